"""Referential and semantic checks over a whole :class:`~registry.model.Registry`.

Field-level rules (formats, date order inside one object) live in the pydantic models; this module
checks what only the whole registry can answer: that every reference points at something that
exists, and that histories do not contradict themselves.

Decision on trusted partners: a trusted partner must always be a known tenant. A registry revision
carries its tenants, so a partner that names no tenant is a typo or a deleted tenant, and silently
keeping it would grant early access to whoever later takes that id. The sourced catalog ships no
trusted partners (the June 26, 2026 letter names none), so it needs no exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from registry.canonical import entity_key, kind_collections
from registry.errors import Loc, Problem
from registry.model import GroupMembership, OfacStatus, Registry


def validate(reg: Registry) -> list[Problem]:
    """Every referential/semantic problem in ``reg`` (empty list: valid)."""
    return list(_problems(reg))


def _problems(reg: Registry) -> Iterable[Problem]:
    yield from _keys_match(reg)
    countries = reg.jurisdictions.keys()

    def need_country(kind: str, key: str, loc: Loc, code: str | None) -> Iterable[Problem]:
        if code is not None and code not in countries:
            yield Problem(kind, key, loc, f"unknown jurisdiction {code!r}")

    for code, j in reg.jurisdictions.items():
        yield from need_country("jurisdiction", code, ("parent",), j.parent)
        if j.treated_as is not None:
            yield from need_country("jurisdiction", code, ("treated_as", "jurisdiction"), j.treated_as.jurisdiction)
        yield from _membership_overlaps(code, j.ear_groups)
        yield from _ofac_order(code, j.ofac)

    for rid, r in reg.regions.items():
        yield from need_country("region", rid, ("country",), r.country)

    for sid, s in reg.scopes.items():
        seen: set[str] = set()
        for i, member in enumerate(s.members):
            if member not in reg.regions:
                yield Problem("scope", sid, ("members", i), f"unknown region {member!r}")
            if member in seen:
                yield Problem("scope", sid, ("members", i), f"region {member!r} listed twice")
            seen.add(member)

    for pid, p in reg.providers.items():
        yield from need_country("provider", pid, ("hq_country",), p.hq_country)
        yield from need_country("provider", pid, ("ultimate_parent_country",), p.ultimate_parent_country)
        for i, cr in enumerate(p.customer_restrictions):
            for k, c in enumerate(cr.countries):
                yield from need_country("provider", pid, ("customer_restrictions", i, "countries", k), c)
        if p.entity_list_since is not None and not (p.entity_list and p.entity_list.value):
            yield Problem("provider", pid, ("entity_list_since",), "set, but the provider is not flagged as listed")

    targets = reg.regions.keys() | reg.scopes.keys()
    for mid, m in reg.models.items():
        if m.provider not in reg.providers:
            yield Problem("model", mid, ("provider",), f"unknown provider {m.provider!r}")
        placed: set[tuple[str, str | None]] = set()
        for i, d in enumerate(m.deployments):
            if d.target not in targets:
                msg = f"unknown region or routing scope {d.target!r}"
                yield Problem("model", mid, ("deployments", i, "target"), msg)
            if (d.target, d.platform_model_id) in placed:
                yield Problem("model", mid, ("deployments", i), f"duplicate deployment to {d.target!r}")
            placed.add((d.target, d.platform_model_id))
        ids = [r.id for r in m.export_restrictions]
        for i, rid in enumerate(ids):
            if rid in ids[:i]:
                yield Problem("model", mid, ("export_restrictions", i, "id"), f"duplicate restriction id {rid!r}")
        for i, tp in enumerate(m.trusted_partners):
            if tp.tenant not in reg.tenants:
                yield Problem("model", mid, ("trusted_partners", i, "tenant"), f"unknown tenant {tp.tenant!r}")
            if not tp.demo and tp.source is None:
                msg = "a non-demo trusted partner needs a source"
                yield Problem("model", mid, ("trusted_partners", i, "source"), msg)
        if m.training_compute_flop is not None and m.training_compute_source is None:
            yield Problem("model", mid, ("training_compute_source",), "a training-compute estimate needs a source")

    for tid, t in reg.tenants.items():
        yield from need_country("tenant", tid, ("hq_country",), t.hq_country)
        yield from need_country("tenant", tid, ("parent_country",), t.parent_country)
        for k, c in enumerate(t.residency.countries):
            yield from need_country("tenant", tid, ("residency", "countries", k), c)
        if t.parent_ownership_share > 0 and t.parent_country is None:
            yield Problem("tenant", tid, ("parent_country",), "an ownership share needs a parent_country")


def _keys_match(reg: Registry) -> Iterable[Problem]:
    """A registry built by hand could file an entity under the wrong key."""
    for kind, items in kind_collections(reg).items():
        for key, entity in items.items():
            if entity_key(entity) != key:
                yield Problem(kind, key, (), f"stored under {key!r} but its id is {entity_key(entity)!r}")


def _membership_overlaps(code: str, groups: tuple[GroupMembership, ...]) -> Iterable[Problem]:
    """Two windows for the same group that overlap would make the history ambiguous."""
    for i, a in enumerate(groups):
        for b in groups[:i]:
            if a.group == b.group and _overlap(a.since, a.until, b.since, b.until):
                yield Problem("jurisdiction", code, ("ear_groups", i), f"overlaps another {a.group} membership")


def _ofac_order(code: str, history: tuple[OfacStatus, ...]) -> Iterable[Problem]:
    """The OFAC history is newest last, and its windows must not overlap."""
    for i in range(1, len(history)):
        prev, cur = history[i - 1], history[i]
        if prev.until is None or (cur.since is not None and cur.since < prev.until):
            yield Problem("jurisdiction", code, ("ofac", i), "OFAC history out of order or overlapping (newest last)")


def _overlap(s1: date | None, u1: date | None, s2: date | None, u2: date | None) -> bool:
    lo1, hi1 = s1 or date.min, u1 or date.max
    lo2, hi2 = s2 or date.min, u2 or date.max
    return lo1 < hi2 and lo2 < hi1
