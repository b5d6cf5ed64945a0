"""Impact analysis: a known one-rule change lists exactly the decisions it flips."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from broker.engine.factory import create_engine
from broker.engine.interface import PolicyBundle
from broker.lifecycle.export import to_csv
from broker.lifecycle.impact import ImpactRequest, analyze
from broker.lifecycle.sources import StaticRegistrySource
from tests.lifecycle.conftest import ALICE, Env, approve_flow, shipped_pack, suspended_allowed_pack
from tests.policy.fixture_registry import TIMES, fixture_registry

NOW = datetime.fromtimestamp(TIMES["now"] // 10**9, UTC)


def _expected_gains(doc: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """Independently: decisions the base denies only because the tenant is flagged suspended."""
    engine = create_engine("regorus")
    engine.load(PolicyBundle(shipped_pack().modules, doc, "base", 1))
    reg = doc["tollgate"]["registry"]
    out = set()
    for tenant in reg["tenants"]:
        for model, m in reg["models"].items():
            for target in m["deployments"]:
                d = engine.evaluate(
                    {"tenant": tenant, "target": target, "model": model, "subject": None, "now_ns": TIMES["now"]}
                )
                flags = {r["facts"].get("flag") for r in d["reasons"]}
                if d["reasons"] and flags == {"suspended"}:
                    out.add((tenant, target, model))
    return out


def test_known_change_lists_exactly_the_flipped_decisions() -> None:
    reg = fixture_registry()
    source = StaticRegistrySource({1: reg})
    _, doc = source.data_document()
    expected = _expected_gains(doc)
    assert expected, "the fixture registry must have a suspended tenant with deployed models"
    progress: list[tuple[int, int, str]] = []
    report = analyze(
        ImpactRequest("cand", suspended_allowed_pack().modules, "base", shipped_pack().modules, now=NOW),
        source,
        workers=1,
        progress=lambda d, t, p: progress.append((d, t, p)),
    )
    now_gains = {
        (c["tenant"], c["target"], c["model"])
        for c in report["changes"]
        if c["change"] == "gain" and c["at_ns"] == TIMES["now"]
    }
    assert now_gains == expected
    suspended = {t for t, v in reg.tenants.items() if v.suspended}
    assert {c["tenant"] for c in report["changes"]} <= suspended
    assert all(c["codes_removed"] == ["TENANT_SUSPENDED"] for c in report["changes"])
    assert report["summary"]["lost"] == 0 and report["summary"]["gained"] >= len(expected)
    assert report["summary"]["by_code"] == {"TENANT_SUSPENDED": {"added": 0, "removed": report["summary"]["changed"]}}
    groups = report["groups"]
    assert {g["tenant"] for g in groups} == {c["tenant"] for c in report["changes"]}
    assert progress and progress[-1][0] == progress[-1][1] and progress[-1][2] == "done"


def test_identical_versions_have_no_impact_and_stable_ids() -> None:
    source = StaticRegistrySource({1: fixture_registry()})
    req = ImpactRequest("a", shipped_pack().modules, "b", shipped_pack().modules, now=NOW)
    r1 = analyze(req, source, workers=1)
    assert r1["summary"]["changed"] == 0 and r1["changes"] == []
    assert r1["matrix"]["decisions_covered"] >= len(fixture_registry().tenants)


def test_csv_export_has_one_row_per_changed_decision() -> None:
    source = StaticRegistrySource({1: fixture_registry()})
    report = analyze(
        ImpactRequest("c", suspended_allowed_pack().modules, "b", shipped_pack().modules, now=NOW), source, workers=1
    )
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len(rows) == len(report["changes"])
    assert {r["change"] for r in rows} <= {"gain", "reasons"} and rows[0]["codes_removed"] == "TENANT_SUSPENDED"


class _History:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def iter_decisions(self, since: datetime) -> Iterator[Mapping[str, Any]]:
        return iter(self.records)


def test_replay_diffs_logged_inputs_at_their_registry_revision(sqlite_env: Env) -> None:
    env = sqlite_env
    v1 = approve_flow(env, shipped_pack())
    env.service.activate(v1, ALICE)
    _, doc = env.registry.data_document(1)
    suspended = next(t for t, v in doc["tollgate"]["registry"]["tenants"].items() if v["suspended"])
    model, m = next((k, v) for k, v in doc["tollgate"]["registry"]["models"].items() if v["deployments"])
    target = sorted(m["deployments"])[0]
    inp = {"tenant": suspended, "target": target, "model": model, "subject": None, "now_ns": TIMES["now"]}
    _, logged = env.activator.evaluate(inp)
    env.service.history = _History(
        [{"decision_id": f"d{i}", "input": inp, "result": logged, "registry_revision": 1} for i in range(3)]
    )
    record, _ = env.service.push(suspended_allowed_pack(), ALICE, message="v2")
    env.service.propose(record.id, ALICE)
    report = env.service.impact(record.id, ALICE, replay_days=7, now=NOW)
    replay = report["replay"]
    assert replay["records"] == 3 and replay["distinct_inputs"] == 1 and replay["registry_revisions"] == [1]
    assert replay["logged_results_differing_from_base"] == 0
    changes = [c for c in report["changes"] if c["source"] == "replay"]
    assert len(changes) == 1 and changes[0]["count"] == 3 and changes[0]["decision_id"] == "d2"
    stored = env.store.impact(report["id"])
    assert stored is not None and stored["summary"]["report_id"] == report["id"]


@pytest.mark.slow
def test_full_catalog_with_1000_tenants_well_under_a_minute() -> None:
    from registry.io import load_shipped
    from tests.lifecycle.synthetic import with_synthetic_tenants

    source = StaticRegistrySource({1: with_synthetic_tenants(load_shipped(include_demo=True), 1000)})
    started = time.perf_counter()
    report = analyze(ImpactRequest("c", suspended_allowed_pack().modules, "b", shipped_pack().modules), source)
    elapsed = time.perf_counter() - started
    print(f"impact on catalog + 1,000 tenants: {elapsed:.1f}s", report["matrix"], report["summary"]["changed"])
    assert elapsed < 60


def test_audit_history_adapter_pages_and_skips_non_decisions() -> None:
    from broker.lifecycle.sources import AuditDecisionHistory

    inp = {"tenant": "t", "target": "aws:x", "model": "m", "subject": None, "now_ns": 1}
    records = [{"kind": "decision", "input": inp, "i": i} for i in range(5)]
    records.insert(2, {"kind": "decision", "input": {"tenant": "t", "target": "aws:x"}})  # a route table
    records.insert(4, {"kind": "policy", "action": "push"})

    class Reader:
        def search(self, *, limit: int, after: int, since: float) -> list[dict[str, Any]]:
            hits = [{"index": i, "record": r} for i, r in enumerate(records) if i > after]
            return hits[:limit]

    got = list(AuditDecisionHistory(Reader(), page=2).iter_decisions(NOW))
    assert [r["i"] for r in got] == [0, 1, 2, 3, 4]
