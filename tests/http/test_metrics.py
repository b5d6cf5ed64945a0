"""``GET /metrics``: who may read it, what it counts, and that a broken part never breaks a scrape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from broker.decisions.cache import DecisionCache
from broker.decisions.catalog import CatalogIndex
from broker.decisions.model import EngineInfo
from broker.decisions.snapshot import PolicySnapshot
from broker.decisions.stats import DecisionStats
from broker.errors import EngineFailure
from broker.http.metrics import BrokerCollector
from tests.hardening.conftest import InProcess, start_in_process

ALLOWED = {"tenant": "demo-us-commercial", "region": "aws-bedrock:us", "model": "anthropic.claude-opus-4-7"}
DENIED = {"tenant": "demo-de-eu-resident", "region": "aws-bedrock:eu", "model": "anthropic.claude-opus-4-7"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    client, settings, minter = start_in_process(Path(tmp_path_factory.mktemp("metrics")),
                                                rate_limit_principal_rps=0.01, rate_limit_principal_burst=30)
    with client:
        yield InProcess(client, settings, minter)


def scrape(broker: InProcess) -> Samples:
    r = broker.client.get("/metrics", headers=broker.auth("monitor", subject="prometheus"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def test_only_monitor_and_admin_tokens_may_read_metrics(broker: InProcess) -> None:
    assert broker.client.get("/metrics").status_code == 401
    for role in ("gateway", "officer", "auditor", "approver"):
        r = broker.client.get("/metrics", headers=broker.auth(role))
        assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_FORBIDDEN", role
    assert broker.client.get("/metrics", headers=broker.auth("admin")).status_code == 200
    # Prometheus asks for OpenMetrics; anything else gets the classic text format.
    r = broker.client.get("/metrics", headers={**broker.auth("monitor"),
                                               "accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text") and r.text.endswith("# EOF\n")


def test_decisions_are_counted_by_outcome_source_and_reason(broker: InProcess) -> None:
    before = scrape(broker)
    gw = broker.auth("gateway", subject="metrics-gw")
    for body in (ALLOWED, ALLOWED, DENIED, DENIED, DENIED):
        assert broker.client.post("/v1/preflight", json=body, headers=gw).status_code == 200
    after = scrape(broker)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("tollgate_decisions_total", allow="true", source="engine") == 1
    assert delta("tollgate_decisions_total", allow="true", source="cache") == 1
    assert delta("tollgate_decisions_total", allow="false", source="engine") == 1
    assert delta("tollgate_decisions_total", allow="false", source="cache") == 2
    assert delta("tollgate_decision_reasons_total", code="RESIDENCY_VIOLATION") == 3  # decisions, not reasons
    assert delta("tollgate_engine_evaluation_seconds_count") == 2  # the two misses
    assert delta("tollgate_preflight_responses_total", status="200") == 5
    assert delta("tollgate_preflight_duration_seconds_count") == 5
    assert delta("tollgate_preflight_duration_seconds_bucket", le="+Inf") == 5
    assert 0 < delta("tollgate_preflight_duration_seconds_sum") < 5
    assert after[("tollgate_policy_loaded", ())] == 1
    assert after[("tollgate_audit_status", (("status", "ok"),))] == 1
    assert after[("tollgate_audit_sequenced_records", ())] >= 5
    assert after[("tollgate_decision_cache_entries", ())] >= 2
    assert ("process_resident_memory_bytes", ()) in after  # prometheus_client's process collector
    info = [k for k in after if k[0] == "tollgate_policy_info"]
    assert len(info) == 1 and dict(info[0][1])["engine"] == "regorus"


def test_rate_limited_requests_are_counted(broker: InProcess) -> None:
    before = scrape(broker)[("tollgate_rate_limited_total", (("bucket", "principal"),))]
    greedy = broker.auth("gateway", subject="metrics-greedy")
    statuses = [broker.client.post("/v1/preflight", json=ALLOWED, headers=greedy).status_code for _ in range(35)]
    assert statuses.count(429) >= 5
    after = scrape(broker)
    assert after[("tollgate_rate_limited_total", (("bucket", "principal"),))] - before == statuses.count(429)
    assert after[("tollgate_preflight_responses_total", (("status", "429"),))] >= statuses.count(429)
    bad = broker.client.post("/v1/preflight", json={"tenant": 1}, headers=broker.auth("gateway", subject="m-422"))
    assert bad.status_code == 422
    assert scrape(broker)[("tollgate_preflight_responses_total", (("status", "422"),))] >= 1


class _Engine:
    name, version = "fake", "1"

    def __init__(self, result: Any) -> None:
        self.result = result

    def evaluate(self, input: Any) -> Any:
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


def _snapshot(engine: Any, stats: DecisionStats) -> PolicySnapshot:
    return PolicySnapshot(engine=engine, policy_revision="p", registry_revision=1,
                          catalog=CatalogIndex.from_data({}), cache=DecisionCache(8),
                          engine_info=EngineInfo("fake", "1"), stats=stats)


def test_engine_evaluations_and_failures_are_counted() -> None:
    stats = DecisionStats()
    ok = _snapshot(_Engine({"allow": False, "reasons": [], "obligations": [], "valid_until_ns": None}), stats)
    ok.evaluate({})
    for failure in (RuntimeError("panic"), {"allow": 1, "reasons": []}):
        with pytest.raises(EngineFailure):
            _snapshot(_Engine(failure), stats).evaluate({})
    assert sum(stats.evaluations.counts) == 1 and stats.evaluations.sum > 0
    assert stats.evaluation_errors == {"ENGINE_FAILURE": 1, "ENGINE_BAD_OUTPUT": 1}


def test_a_failing_source_is_skipped_and_counted_never_a_failed_scrape() -> None:
    class BrokenAudit:
        def health(self) -> dict[str, Any]:
            raise OSError("worker socket gone")

    state = SimpleNamespace(audit_log=BrokenAudit(), rate_limiter=None, snapshot_manager=None)
    collector = BrokerCollector(state)
    for _ in range(2):
        names = {m.name: m for m in collector.collect()}
    assert "tollgate_audit_status" not in names and "tollgate_build_info" in names
    assert [(s.labels, s.value) for s in names["tollgate_metrics_errors"].samples] == [({"source": "audit"}, 2)]


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    apps = [start_in_process(tmp_path / name)[0] for name in ("a", "b")]
    for client in apps:
        with client:
            pass
    states = [c.app.state for c in apps]  # type: ignore[attr-defined]
    from broker.http.metrics import registry_for

    assert registry_for(states[0]) is not registry_for(states[1])
    assert registry_for(states[0]) is registry_for(states[0])
