"""Property: any valid tenant set survives export -> import -> export byte for byte."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from registry.io import dump_registry, load_dir, load_shipped
from registry.model import Registry, Residency, Tenant

COUNTRIES = ["CH", "CN", "DE", "GB", "IR", "UA-CRIMEA", "UA", "US"]
JURISDICTIONS = {c: j for c, j in load_shipped().jurisdictions.items() if c in COUNTRIES}
# Names that YAML would otherwise read as other types, or that need quoting/escaping.
AWKWARD = st.sampled_from(["yes", "no", "null", "1.5", "2026-06-12", "a: b", "#x", "- x", "Ünïcode ✓", "x'y\"z"])
NAMES = st.one_of(AWKWARD, st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                                   max_size=40).map(str.strip).filter(bool))


@st.composite
def tenants(draw: st.DrawFn) -> Tenant:
    residency = draw(st.one_of(
        st.just(Residency()), st.just(Residency(kind="eu_member_states")),
        st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=3, unique=True).map(
            lambda cs: Residency(kind="countries", countries=tuple(cs))),
    ))
    parent = draw(st.none() | st.sampled_from(COUNTRIES))
    return Tenant(
        id=draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)),
        name=draw(NAMES),
        hq_country=draw(st.sampled_from(COUNTRIES)),
        parent_country=parent,
        parent_ownership_share=draw(st.floats(0, 1)) if parent else 0.0,
        residency=residency,
        government=draw(st.booleans()),
        public_facing=draw(st.booleans()),
        suspended=draw(st.booleans()),
        demo=draw(st.booleans()),
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(tenants(), max_size=5, unique_by=lambda t: t.id))
def test_tenants_round_trip(items: list[Tenant]) -> None:
    # A few jurisdictions only (tenants reference nothing else): keeps each example fast.
    reg = Registry(jurisdictions=JURISDICTIONS, tenants={t.id: t for t in items})
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        first = dump_registry(reg, Path(a))
        again = load_dir(Path(a))
        assert again == reg
        dump_registry(again, Path(b))
        for f in first:
            assert f.read_bytes() == (Path(b) / f.name).read_bytes()
