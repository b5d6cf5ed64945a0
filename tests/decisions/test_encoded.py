"""Pre-encoded answers and audit records are byte-for-byte what the slow, checked encoders give."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import broker.canonical as canonical_mod
from broker.audit.errors import InvalidRecord
from broker.audit.records import canonical_json as record_json
from broker.audit.records import encode_with_index, index_fields, index_fields_of, validate
from broker.canonical import Canonical, CheckedRecord, InvalidJson, Template, canonical_json
from broker.decisions.encoded import decision_body, decision_record
from broker.decisions.model import Decision, EngineInfo, Outcome, PreflightQuery, Subject
from broker.decisions.views import decision_json
from broker.security.principal import Principal


def slow(value: Any) -> bytes:
    """The reference encoding: plain json.dumps of plain containers."""
    return json.dumps(json.loads(json.dumps(value)), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode()


REASON = {"code": "RESIDENCY_VIOLATION", "message": "Tenant \"ü\" needs EU residency (source: x\\y).",
          "facts": {"region": "aws:us-east-1", "n": 3, "share": 0.5, "ok": False, "none": None}}


def decision(*, allow: bool = False, subject: Subject | None = None, at_ns: int | None = None,
             cached: bool = False, tenant: str = "acme", model: str = "m\"1",
             valid_until: int | None = 1_800_000_000_123_000_000) -> Decision:
    outcome = Outcome(allow, () if allow else (REASON, REASON | {"code": "EMBARGOED_DESTINATION"}),
                      ({"code": "compliance_review", "message": "review"},), valid_until)
    return Decision(
        decision_id="0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
        query=PreflightQuery(tenant, "aws-bedrock:eu", model, subject, at_ns),
        outcome=outcome,
        effective_regions=("aws:eu-west-1", "aws:eu-central-1"),
        policy_revision="sha256:" + "ab" * 32,
        registry_revision=7,
        engine=EngineInfo("regorus", "0.13.0"),
        evaluated_at_ns=1_795_466_438_649_147_172 if at_ns is None else at_ns,
        cached=cached,
        audit_index=-1,
    )


PRINCIPAL = Principal(subject="gw-1", roles=frozenset({"gateway", "officer"}), issuer="https://i",
                      key_id="k1", token_id="j-1")

CASES = [
    decision(),
    decision(allow=True, valid_until=None),
    decision(cached=True),
    decision(subject=Subject(("DE", "IR"), True)),
    decision(subject=Subject((), False), at_ns=1_700_000_000_000_000_000),
    decision(tenant="ténant \u2028 \"quoted\"", model="mödel/ünïcode\\"),
]


@pytest.mark.parametrize("d", CASES)
def test_assembled_record_is_the_canonical_encoding(d: Decision) -> None:
    rec = decision_record(d, PRINCIPAL, d.evaluated_at_ns + (5 if d.query.at_ns else 0))
    assert rec.canonical == slow(dict(rec))
    assert record_json(rec) == rec.canonical  # the audit log takes the assembled bytes
    # The log appends a CheckedRecord unchecked: it must pass the schema check, and the keys it
    # carries must be exactly what the log would extract by parsing it.
    ts = validate(rec)
    data, fields = encode_with_index(rec)
    assert data == rec.canonical
    assert fields == index_fields_of(dict(rec), ts) == index_fields(rec.canonical)
    assert (fields.decision_id, fields.tenant, fields.model) == (d.decision_id, d.query.tenant, d.query.model)


def test_checked_record_times_match_parsing_for_any_instant() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        ns = rng.randrange(1_500_000_000 * 10**9, 2_500_000_000 * 10**9)
        d = decision(at_ns=ns)
        rec = decision_record(d, PRINCIPAL, ns)
        assert rec.time_s == validate(rec)


def test_cache_hits_reuse_the_encoded_result_and_record_where_it_came_from() -> None:
    first = decision()
    rec1 = decision_record(first, PRINCIPAL, first.evaluated_at_ns)
    hit = Decision(**{**{f: getattr(first, f) for f in first.__slots__}, "cached": True,  # type: ignore[attr-defined]
                      "decision_id": "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c"})
    rec2 = decision_record(hit, PRINCIPAL, hit.evaluated_at_ns)
    assert rec1["result"]["source"] == "engine" and rec2["result"]["source"] == "cache"
    again = decision_record(hit, PRINCIPAL, hit.evaluated_at_ns)
    assert again["result"] is rec2["result"]  # encoded once per cached outcome
    assert rec2.canonical == slow(dict(rec2))


@pytest.mark.parametrize("d", CASES)
def test_fast_path_body_equals_the_route_body(d: Decision) -> None:
    assert json.loads(decision_body(d)) == json.loads(json.dumps(decision_json(d)))


def test_canonical_is_read_only_and_splices_its_bytes() -> None:
    c = Canonical({"b": [1, 2], "a": {"z": None}})
    assert c.canonical == b'{"a":{"z":null},"b":[1,2]}'
    for mutate in (lambda: c.__setitem__("x", 1), lambda: c.update({}), lambda: c.pop("a"), c.clear):
        with pytest.raises(TypeError):
            mutate()
    assert canonical_json({"k": c, "j": "x"}) == b'{"j":"x","k":{"a":{"z":null},"b":[1,2]}}'


def test_a_value_imitating_the_placeholder_falls_back_to_plain_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canonical_mod, "_MARK", "mark-")
    value = {"a": "mark-0", "k": Canonical({"x": 1})}  # caller text equal to the placeholder
    assert canonical_json(value) == b'{"a":"mark-0","k":{"x":1}}'


@pytest.mark.parametrize("bad", [{"t": (1, 2)}, {1: "x"}, {"f": float("nan")}, {"s": {1, 2}}])
def test_non_json_values_are_still_refused(bad: Any) -> None:
    with pytest.raises(InvalidJson):
        canonical_json(bad)
    with pytest.raises(InvalidJson):
        Canonical(bad)
    with pytest.raises(InvalidRecord):
        record_json({"result": Canonical({"ok": 1}), **bad})


@pytest.mark.parametrize("bad", ["\ud800", {"s": "x\udfff"}, float("inf"), [float("-inf")]])
def test_scalars_skip_the_round_trip_check_but_not_the_refusals(bad: Any) -> None:
    # Exact str/int/float/bool/None are encoded without decoding them again; a lone surrogate
    # (not UTF-8 encodable) and a non-finite float must still be refused by name.
    with pytest.raises(InvalidJson):
        canonical_json(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_encodes_as_the_plain_encoder_does(value: Any) -> None:
    assert canonical_json(value) == slow(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=5), json_values, max_size=4),
       st.dictionaries(st.text(max_size=5), json_values, max_size=4), st.text(max_size=5))
def test_splicing_equals_plain_encoding(outer: dict[str, Any], inner: dict[str, Any], key: str) -> None:
    value = {**outer, key: Canonical(inner)}
    assert canonical_json(value) == slow(value)


def test_both_result_variants_are_canonical_even_if_reasons_mimic_the_placeholder(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import broker.decisions.encoded as enc

    for mark in (canonical_mod._MARK, "RESIDENCY_VIOLATION"):  # the real one, and one the reasons hold
        monkeypatch.setattr(canonical_mod, "_MARK", mark)
        d = decision(tenant=f"t-{mark}")
        views = enc.OutcomeViews(d.outcome, d.effective_regions)
        for source in ("engine", "cache"):
            result = views.record_result(source)
            assert result["source"] == source
            assert result.canonical == slow(dict(result))


def test_a_checked_record_builds_its_value_only_when_read() -> None:
    built: list[int] = []

    def build() -> dict[str, Any]:
        built.append(1)
        return {"b": [1], "a": "x"}

    rec = CheckedRecord(b'{"a":"x","b":[1]}', ("decision", "id", "t", "m"), 1.5, build)
    assert canonical_json(rec) == record_json(rec) == rec.canonical and not built  # the log reads bytes
    assert encode_with_index(rec)[0] == rec.canonical and not built
    assert rec == {"a": "x", "b": [1]} and dict(rec) == {"a": "x", "b": [1]} and len(rec) == 2
    assert rec["b"] == [1] and rec.get("z") is None and "a" in rec
    assert built == [1]  # built once, then kept
    with pytest.raises(TypeError):
        rec["a"] = "y"  # type: ignore[index]


def test_a_pre_flight_record_is_built_lazily_and_equals_its_bytes() -> None:
    d = decision(subject=Subject(("DE",), False))
    rec = decision_record(d, PRINCIPAL, d.evaluated_at_ns)
    assert rec._value is None  # nothing on the hot path read it
    assert json.loads(rec.canonical) == json.loads(json.dumps(dict(rec)))


def test_an_oversized_pre_flight_record_moves_its_result_to_a_blob() -> None:
    big = REASON | {"message": "x" * 70_000}
    outcome = Outcome(False, (big,), (), None)
    d = decision()
    d = Decision(d.decision_id, d.query, outcome, d.effective_regions, d.policy_revision,
                 d.registry_revision, d.engine, d.evaluated_at_ns, False, -1)
    rec = decision_record(d, PRINCIPAL, d.evaluated_at_ns)
    blobs: dict[str, bytes] = {}
    data, fields = encode_with_index(rec, blobs.__setitem__)
    stored = json.loads(data)
    assert len(data) <= 65_535 and stored["blobs"] == ["result"]
    assert json.loads(blobs[stored["result"]["sha256"]]) == json.loads(json.dumps(rec["result"]))
    assert fields.decision_id == d.decision_id


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=5), json_values, max_size=5), st.text(max_size=5))
def test_an_unchecked_template_encodes_decoded_values_as_the_checked_one(value: dict[str, Any], key: str) -> None:
    decoded = json.loads(json.dumps(value))  # what an engine's output is: decoded JSON
    for member in ("engine", "cache"):
        fast = Template(decoded, key, decoded=True).fill(member)
        assert fast.canonical == Template(decoded, key).fill(member).canonical == slow({**decoded, key: member})


@pytest.mark.parametrize("bad", [{"s": "\ud800"}, {"f": float("nan")}, {"l": [float("inf")]}])
def test_an_unchecked_template_still_refuses_what_json_cannot_hold(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidJson):
        Template(bad, "source", decoded=True)
