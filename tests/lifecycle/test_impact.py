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
from broker.lifecycle.files import PolicySet
from broker.lifecycle.impact import ImpactRequest, analyze, target_classes
from broker.lifecycle.sources import StaticRegistrySource
from registry.model import Registry
from tests.lifecycle.conftest import ALICE, Env, approve_flow, changed, shipped_pack, suspended_allowed_pack
from tests.policy.fixture_registry import TIMES, fixture_registry

NOW = datetime.fromtimestamp(TIMES["now"] // 10**9, UTC)


Triple = tuple[str, str, str]  # tenant, target, model
DEPLOYMENT = "tollgate/routing/deployment.rego"


def _base_decisions(doc: Mapping[str, Any]) -> dict[Triple, dict[str, Any]]:
    """Independently: the shipped pack's decision at NOW on every tenant x target x model."""
    engine = create_engine("regorus")
    engine.load(PolicyBundle(shipped_pack().modules, doc, "base", 1))
    reg = doc["tollgate"]["registry"]
    return {
        (tenant, target, model): engine.evaluate(
            {"tenant": tenant, "target": target, "model": model, "subject": None, "now_ns": TIMES["now"]}
        )
        for tenant in reg["tenants"]
        for target in reg["targets"]
        for model in reg["models"]
    }


def _codes(decision: Mapping[str, Any]) -> set[str]:
    return {r["code"] for r in decision["reasons"]}


def _at_now(report: Mapping[str, Any], kind: str | None = None) -> set[Triple]:
    return {
        (c["tenant"], c["target"], c["model"])
        for c in report["changes"]
        if c["at_ns"] == TIMES["now"] and (kind is None or c["change"] == kind)
    }


def _undeployed(doc: Mapping[str, Any], triples: set[Triple]) -> set[Triple]:
    models = doc["tollgate"]["registry"]["models"]
    return {t for t in triples if t[1] not in models[t[2]]["deployments"]}


def twins_registry() -> Registry:
    """The fixture registry plus two regions that differ from one of its regions only in what
    identifies them (id, code, city): aws:us-east-9, deployed like aws:us-east-1, and
    aws:eu-central-9, deployed nowhere (so per model it matches aws:eu-central-1 only where that
    region has no deployment either)."""
    reg = fixture_registry()
    regions = dict(reg.regions)
    for twin, of in (("aws:us-east-9", "aws:us-east-1"), ("aws:eu-central-9", "aws:eu-central-1")):
        regions[twin] = reg.regions[of].model_copy(update={"id": twin, "code": twin[4:], "city": "Twin City"})
    models = {}
    for mid, m in reg.models.items():
        copies = tuple(
            d.model_copy(update={"target": "aws:us-east-9"}) for d in m.deployments if d.target == "aws:us-east-1"
        )
        models[mid] = m.model_copy(update={"deployments": m.deployments + copies})
    return reg.model_copy(update={"regions": regions, "models": models})


def _deployment_rule(condition: str) -> PolicySet:
    """The shipped pack where MODEL_NOT_DEPLOYED is only given when ``condition`` also holds."""
    return changed(shipped_pack(), DEPLOYMENT, "\ttarget != null\n", f"\ttarget != null\n\t{condition}\n")


def test_known_change_lists_exactly_the_flipped_decisions() -> None:
    reg = fixture_registry()
    source = StaticRegistrySource({1: reg})
    _, doc = source.data_document()
    base = _base_decisions(doc)

    def suspended_only(d: Mapping[str, Any]) -> bool:  # TENANT_SUSPENDED given for the flag alone
        flags = {r["facts"].get("flag") for r in d["reasons"] if r["code"] == "TENANT_SUSPENDED"}
        return flags == {"suspended"}

    # Independently: the suspended tenants' decisions lose TENANT_SUSPENDED (on every target x
    # model, deployed or not) and are allowed where that was the only reason.
    expected = {k for k, d in base.items() if suspended_only(d)}
    expected_gains = {k for k, d in base.items() if suspended_only(d) and _codes(d) == {"TENANT_SUSPENDED"}}
    assert expected_gains, "the fixture registry must have a suspended tenant with deployed models"
    assert _undeployed(doc, expected), "the change must reach pairs where the model is not deployed"
    progress: list[tuple[int, int, str]] = []
    report = analyze(
        ImpactRequest("cand", suspended_allowed_pack().modules, "base", shipped_pack().modules, now=NOW,
                      matrix="full"),
        source,
        workers=1,
        progress=lambda d, t, p: progress.append((d, t, p)),
    )
    assert _at_now(report) == expected
    assert _at_now(report, "gain") == expected_gains
    suspended = {t for t, v in reg.tenants.items() if v.suspended}
    assert {c["tenant"] for c in report["changes"]} <= suspended
    assert all(c["codes_removed"] == ["TENANT_SUSPENDED"] for c in report["changes"])
    assert report["summary"]["lost"] == 0 and report["summary"]["gained"] >= len(expected_gains)
    assert report["summary"]["by_code"] == {"TENANT_SUSPENDED": {"added": 0, "removed": report["summary"]["changed"]}}
    groups = report["groups"]
    assert {g["tenant"] for g in groups} == {c["tenant"] for c in report["changes"]}
    assert report["matrix"]["pairs"] == len(doc["tollgate"]["registry"]["targets"]) * len(reg.models)
    assert progress and progress[-1][0] == progress[-1][1] and progress[-1][2] == "done"
    assert {p for _, _, p in progress} >= {"matrix", "done"}


def test_the_deployed_scope_covers_exactly_the_deployed_pairs() -> None:
    """matrix="deployed": the same known change, restricted to pairs where the model is deployed
    (the default scope is the whole matrix, "full")."""
    assert ImpactRequest("c", {}, None, None).matrix == "full"
    reg = fixture_registry()
    source = StaticRegistrySource({1: reg})
    _, doc = source.data_document()
    base = _base_decisions(doc)
    models = doc["tollgate"]["registry"]["models"]
    deployed = {k for k in base if k[1] in models[k[2]]["deployments"]}

    def suspended_only(d: Mapping[str, Any]) -> bool:
        flags = {r["facts"].get("flag") for r in d["reasons"] if r["code"] == "TENANT_SUSPENDED"}
        return flags == {"suspended"}

    expected = {k for k in deployed if suspended_only(base[k])}
    report = analyze(ImpactRequest("cand", suspended_allowed_pack().modules, "base", shipped_pack().modules,
                                   now=NOW, matrix="deployed"), source, workers=1)
    assert expected and _at_now(report) == expected
    assert report["matrix"]["scope"] == "deployed"
    assert report["matrix"]["pairs"] == len({(k[1], k[2]) for k in deployed})
    # dropping the deployment check changes nothing a gateway can be asked about
    quiet = analyze(ImpactRequest("cand", _deployment_rule("false").modules, "base", shipped_pack().modules,
                                  now=NOW, matrix="deployed"), source, workers=1)
    assert quiet["summary"]["changed"] == 0


def test_dropping_the_deployment_check_lists_exactly_the_undeployed_pairs() -> None:
    source = StaticRegistrySource({1: twins_registry()})
    _, doc = source.data_document()
    expected = {k for k, d in _base_decisions(doc).items() if "MODEL_NOT_DEPLOYED" in _codes(d)}
    assert expected == _undeployed(doc, expected) and len(expected) > 1000
    progress: list[tuple[int, int, str]] = []
    report = analyze(
        ImpactRequest("cand", _deployment_rule("false").modules, "base", shipped_pack().modules, now=NOW,
                      matrix="full"),
        source,
        workers=1,
        progress=lambda d, t, p: progress.append((d, t, p)),
    )
    assert _at_now(report) == expected
    assert list(dict.fromkeys(p for _, _, p in progress)) == ["spot checks", "relevance", "matrix", "done"]
    assert all(d <= t for d, t, _ in progress) and progress[-1][0] == progress[-1][1]
    assert all(c["codes_removed"] == ["MODEL_NOT_DEPLOYED"] and not c["codes_added"] for c in report["changes"])
    assert _at_now(report, "gain"), "somewhere the deployment was the only reason"
    targets = report["matrix"]["target_classes"]
    assert targets["verified"] and targets["spot_checks"] > 0
    assert targets["classes"] < targets["targets"] and targets["pair_classes"] < report["matrix"]["pairs"]


def test_target_grouping_is_exact() -> None:
    source = StaticRegistrySource({1: twins_registry()})
    req = ImpactRequest("cand", _deployment_rule("false").modules, "base", shipped_pack().modules, now=NOW,
                        matrix="full")
    grouped = analyze(req, source, workers=1)
    req.target_classes = False
    alone = analyze(req, source, workers=1)
    assert grouped["changes"] and grouped["changes"] == alone["changes"]
    assert grouped["groups"] == alone["groups"]
    assert {k: v for k, v in grouped["summary"].items() if k != "evaluations"} == {
        k: v for k, v in alone["summary"].items() if k != "evaluations"
    }
    assert grouped["matrix"]["decisions_covered"] == alone["matrix"]["decisions_covered"]
    assert grouped["matrix"]["evaluated_instants"] < alone["matrix"]["evaluated_instants"]
    assert alone["matrix"]["target_classes"]["pair_classes"] == alone["matrix"]["pairs"]


def test_a_policy_naming_a_region_keeps_it_in_a_class_of_its_own() -> None:
    source = StaticRegistrySource({1: twins_registry()})
    _, doc = source.data_document()
    plain = target_classes(doc, shipped_pack().modules.values())
    assert plain["aws:us-east-1"] == ["aws:us-east-1", "aws:us-east-9"]
    assert plain["aws:eu-central-1"] == ["aws:eu-central-1", "aws:eu-central-9"]

    # A rule about exactly one region: undeployed models are not refused there any more.
    cand = _deployment_rule('target.id != "aws:eu-central-9"')
    classes = target_classes(doc, cand.modules.values())
    assert classes["aws:eu-central-9"] == ["aws:eu-central-9"] and classes["aws:eu-central-1"] == ["aws:eu-central-1"]
    assert classes["aws:us-east-1"] == plain["aws:us-east-1"]
    report = analyze(ImpactRequest("cand", cand.modules, "base", shipped_pack().modules, now=NOW, matrix="full"),
                     source, workers=1)
    expected = {
        k for k, d in _base_decisions(doc).items() if k[1] == "aws:eu-central-9" and "MODEL_NOT_DEPLOYED" in _codes(d)
    }
    assert expected and _at_now(report) == expected
    assert report["matrix"]["target_classes"]["verified"], "kept apart by the name, not by the spot check"


def test_a_policy_telling_targets_apart_unnamed_switches_target_grouping_off() -> None:
    source = StaticRegistrySource({1: twins_registry()})
    _, doc = source.data_document()
    cand = _deployment_rule('not endswith(target.id, "-9")')  # both twins, named by neither id
    report = analyze(ImpactRequest("cand", cand.modules, "base", shipped_pack().modules, now=NOW, matrix="full"),
                     source, workers=1)
    targets = report["matrix"]["target_classes"]
    assert not targets["verified"] and targets["spot_checks"] > 0
    expected = {k for k, d in _base_decisions(doc).items() if k[1].endswith("-9") and "MODEL_NOT_DEPLOYED" in _codes(d)}
    assert expected and _at_now(report) == expected


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
    """The default (deployed) scope; the full cross product takes minutes (benchmarks/impact.py)."""
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
