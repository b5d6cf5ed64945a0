"""Pure helpers: RFC 3339 parsing, decision ids, the cache's validity rule, strict engine output."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.decisions.cache import DecisionCache
from broker.decisions.catalog import CatalogIndex
from broker.decisions.model import Outcome
from broker.decisions.outcome import parse_outcome
from broker.decisions.timefmt import (
    MAX_NS,
    format_rfc3339_ns,
    new_decision_id,
    parse_rfc3339_ns,
)
from broker.errors import EngineFailure

from .conftest import RELEASE, data_doc

S = 10**9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.000000001Z", 1),
        ("2026-07-01T00:00:00z", 1_782_864_000 * S),
        ("2026-07-01t02:00:00+02:00", 1_782_864_000 * S),
        ("2026-06-30T19:30:00-04:30", 1_782_864_000 * S),
        ("2026-07-01T00:00:00.5Z", 1_782_864_000 * S + 500_000_000),
        ("2026-07-01T00:00:00.123456789Z", 1_782_864_000 * S + 123_456_789),
    ],
)
def test_parse_rfc3339(text: str, expected: int) -> None:
    assert parse_rfc3339_ns(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-07-01T00:00:00",  # no offset: ambiguous
        "2026-07-01",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-07-01T24:00:00Z",
        "2026-06-30T23:59:60Z",  # leap second
        "2026-07-01T00:00:00.1234567890Z",  # more than ns precision
        "2026-07-01T00:00:00+24:00",
        "1969-12-31T23:59:59Z",  # before the engines' epoch range
        "2262-04-12T00:00:00Z",  # past int64 ns
        "now",
        " 2026-07-01T00:00:00Z",
    ],
)
def test_parse_rfc3339_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339_ns(text)


@given(st.integers(min_value=0, max_value=MAX_NS - 10**9))
def test_format_roundtrip(ns: int) -> None:
    assert parse_rfc3339_ns(format_rfc3339_ns(ns)) == ns


def test_format_matches_datetime() -> None:
    dt = datetime(2026, 7, 1, 12, 30, 5, tzinfo=UTC)
    assert format_rfc3339_ns(int(dt.timestamp()) * S) == "2026-07-01T12:30:05Z"
    assert format_rfc3339_ns(int(dt.timestamp()) * S + 1000) == "2026-07-01T12:30:05.000001Z"


def test_decision_ids_are_uuid7_and_unique() -> None:
    ids = [new_decision_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    for i in ids:
        assert len(i) == 36 and i[14] == "7" and i[19] in "89ab"
        parsed = uuid.UUID(i)
        assert (parsed.version, parsed.variant, str(parsed)) == (7, uuid.RFC_4122, i)
    # All 74 random bits vary: each bit position takes both values over 1,000 ids.
    rand = [int(i.replace("-", ""), 16) & ((1 << 80) - 1) for i in ids]
    fixed = (0xF << 76) | (0b11 << 62)  # the version nibble's and variant bits' positions
    varying = [bit for bit in range(80) if not fixed >> bit & 1]
    assert len(varying) == 74
    assert all(any(r >> bit & 1 for r in rand) and not all(r >> bit & 1 for r in rand) for bit in varying)
    # The timestamp groups (memoised per millisecond) hold the current unix milliseconds.
    before = time.time_ns() // 1_000_000
    stamp = int(new_decision_id().replace("-", "")[:12], 16)
    assert before <= stamp <= time.time_ns() // 1_000_000


def test_formatting_the_same_instant_twice_gives_the_same_text() -> None:
    for ns in (1_782_909_005 * S, 1_782_909_005 * S + 1000, 1_782_909_005 * S + 1000, 1_782_909_006 * S):
        assert format_rfc3339_ns(ns) == format_rfc3339_ns(ns)
        assert parse_rfc3339_ns(format_rfc3339_ns(ns)) == ns


def _o(allow: bool = False, until: int | None = None) -> Outcome:
    return Outcome(allow, (), (), until)


def test_cache_validity_interval() -> None:
    cache = DecisionCache(10)
    cache.put("k", 100, _o(True, 200))
    assert cache.get("k", 100) is not None
    assert cache.get("k", 199) is not None
    assert cache.get("k", 200) is None  # expires exactly at valid_until
    assert cache.get("k", 99) is None  # nothing is claimed before the evaluation time
    assert cache.get("other", 150) is None


def test_cache_unbounded_validity_and_replacement() -> None:
    cache = DecisionCache(10)
    cache.put("k", 100, _o(False, None))
    assert cache.get("k", 10**18) is not None
    cache.put("k", 50, _o(True, 60))  # an evaluation at an earlier `at` replaces the entry
    assert cache.get("k", 55) == _o(True, 60)
    assert cache.get("k", 100) is None


def test_cache_skips_already_expired_and_evicts_lru() -> None:
    cache = DecisionCache(2)
    cache.put("dead", 100, _o(True, 100))
    assert len(cache) == 0
    cache.put("a", 0, _o())
    cache.put("b", 0, _o())
    assert cache.get("a", 1) is not None  # a is now most recent
    cache.put("c", 0, _o())
    assert cache.get("b", 1) is None and cache.get("a", 1) and cache.get("c", 1)
    cache.clear()
    assert len(cache) == 0
    assert len(DecisionCache(0)) == 0


@pytest.mark.parametrize(
    "doc",
    [
        {"allow": 1, "reasons": []},
        {"allow": "true", "reasons": []},
        {"allow": [True], "reasons": []},
        {"reasons": []},
        {"allow": True},
        {"allow": True, "reasons": {}},
        {"allow": False, "reasons": ["x"]},
        {"allow": False, "reasons": [{"message": "m"}]},
        {"allow": False, "reasons": [{"code": "", "message": "m"}]},
        {"allow": False, "reasons": [{"code": "C", "message": 3}]},
        {"allow": False, "reasons": [{"code": "C", "message": "m", "facts": []}]},
        {"allow": True, "reasons": [], "obligations": {}},
        {"allow": True, "reasons": [], "valid_until_ns": 1.5},
        {"allow": True, "reasons": [], "valid_until_ns": True},
        {"allow": True, "reasons": [], "valid_until_ns": "2026-01-01T00:00:00Z"},
    ],
)
def test_outcome_is_strict(doc: dict[str, object]) -> None:
    with pytest.raises(EngineFailure) as err:
        parse_outcome(doc)
    assert err.value.status == 503


def test_outcome_accepts_contract() -> None:
    out = parse_outcome({
        "allow": False,
        "reasons": [{"code": "C", "message": "m", "facts": {"a": 1}}],
        "obligations": [{"code": "O"}],
        "valid_until_ns": 5,
    })
    assert out.reason_codes == ["C"] and out.valid_until_ns == 5 and not out.allow


def test_catalog_index() -> None:
    idx = CatalogIndex.from_data(data_doc())
    assert idx.effective_regions("aws-bedrock:eu") == ("aws:eu-central-1", "aws:eu-west-1")
    assert idx.effective_regions("aws:eu-central-1") == ("aws:eu-central-1",)
    assert idx.effective_regions("nowhere:x") == ()
    assert idx.models == ("m-open", "m-us", "m-window")
    assert idx.deployments["m-open"] == ("aws-bedrock:eu", "aws:eu-central-1")
    assert idx.edges_ns == (RELEASE,)
    assert idx.edges_between(0, RELEASE) == [RELEASE]
    assert idx.edges_between(RELEASE, RELEASE + 1) == []
    assert CatalogIndex.empty().models == ()
