"""DecisionService on the real regorus engine: cache, audit, failures, atomic swaps, schedules."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from broker.decisions.model import PreflightQuery, Subject
from broker.decisions.service import DecisionService
from broker.decisions.snapshot import PolicySnapshot, SnapshotInputs, SnapshotManager
from broker.engine.factory import create_engine
from broker.engine.interface import PolicyEngine
from broker.errors import AuditUnavailable, EngineFailure, Forbidden, Unavailable, ValidationFailed

from .conftest import NOW, RELEASE, Clock, ListSink, gateway, inputs

Q = PreflightQuery("acme", "aws:eu-central-1", "m-open")


def test_allow_deny_and_unknown_ids(service: DecisionService) -> None:
    d = service.decide(Q, gateway())
    assert d.outcome.allow is True and d.outcome.reasons == ()
    assert d.effective_regions == ("aws:eu-central-1",)
    assert (d.policy_revision, d.registry_revision, d.engine.name) == ("p1", 1, "regorus")
    unknown = service.decide(PreflightQuery("nobody", "x:y", "nothing"), gateway())
    assert unknown.outcome.allow is False
    assert set(unknown.outcome.reason_codes) == {"UNKNOWN_TENANT", "UNKNOWN_MODEL", "UNKNOWN_REGION"}
    assert unknown.effective_regions == ()


def test_subject_fields_reach_the_engine(service: DecisionService) -> None:
    us = PreflightQuery("acme", "aws:us-east-1", "m-us", Subject((), True))
    assert service.decide(us, gateway()).outcome.allow
    not_us = PreflightQuery("acme", "aws:us-east-1", "m-us", Subject(("DE",), False))
    assert service.decide(not_us, gateway()).outcome.reason_codes == ["EXPORT_RESTRICTED_MODEL"]
    no_subject = PreflightQuery("acme", "aws:us-east-1", "m-us")
    assert not service.decide(no_subject, gateway()).outcome.allow
    sanctioned = PreflightQuery("acme", "aws:eu-central-1", "m-open", Subject(("DE", "KP")))
    assert service.decide(sanctioned, gateway()).outcome.reason_codes == ["SANCTIONED_JURISDICTION"]


def test_every_decision_is_recorded_with_its_exact_input(service: DecisionService, sink: ListSink) -> None:
    first = service.decide(Q, gateway())
    second = service.decide(Q, gateway())
    assert (first.cached, second.cached) == (False, True)
    assert (first.audit_index, second.audit_index) == (0, 1)
    rec = sink.records[1]
    assert rec["kind"] == "decision" and rec["v"] == 1
    assert rec["decision_id"] == second.decision_id != first.decision_id
    assert rec["input"] == {"tenant": "acme", "target": "aws:eu-central-1", "model": "m-open",
                            "subject": None, "now_ns": NOW}
    assert rec["result"]["decision"] == "allow" and rec["result"]["source"] == "cache"
    assert rec["result"]["reason_codes"] == [] and rec["result"]["allow"] is True
    assert (rec["policy_revision"], rec["registry_revision"]) == ("p1", 1)
    assert rec["engine"] == "regorus" and rec["engine_version"]
    assert rec["caller"]["sub"] == "gw-1"
    assert rec["evaluated_at"] == "2027-01-15T08:00:00Z"


def test_cache_expires_exactly_at_valid_until(service: DecisionService, manager: SnapshotManager,
                                              clock: Clock) -> None:
    q = PreflightQuery("acme", "aws:eu-central-1", "m-window")
    d = service.decide(q, gateway())
    assert not d.outcome.allow and d.outcome.valid_until_ns == RELEASE
    clock.now = RELEASE - 1
    assert service.decide(q, gateway()).cached  # still inside [NOW, RELEASE)
    clock.now = RELEASE
    after = service.decide(q, gateway())
    assert after.cached is False and after.outcome.allow  # the window opened: re-evaluated


def test_explicit_at_never_reuses_an_answer_from_another_window(service: DecisionService) -> None:
    q = PreflightQuery("acme", "aws:eu-central-1", "m-window")
    later = service.decide(PreflightQuery(q.tenant, q.target, q.model, at_ns=RELEASE + 5), gateway())
    assert later.outcome.allow and later.evaluated_at_ns == RELEASE + 5
    before = service.decide(PreflightQuery(q.tenant, q.target, q.model, at_ns=NOW), gateway())
    assert before.cached is False and not before.outcome.allow
    # Exactly what the engine says at each instant, whatever the cache held before.
    for at in (NOW, RELEASE - 1, RELEASE, RELEASE + 1, NOW - 10):
        got = service.decide(PreflightQuery(q.tenant, q.target, q.model, at_ns=at), gateway())
        assert got.outcome.allow is (at >= RELEASE)


def test_tenant_scoped_token(service: DecisionService, sink: ListSink) -> None:
    with pytest.raises(Forbidden) as err:
        service.decide(Q, gateway(["globex"]))
    assert err.value.code == "TENANT_FORBIDDEN" and err.value.status == 403
    assert sink.records == []
    assert service.decide(Q, gateway(["acme"])).outcome.allow


class _Raising(PolicyEngine):
    """An engine whose evaluate fails in a chosen way (after a successful load)."""

    name, version = "raising", "0"

    def __init__(self, error: BaseException | None = None, doc: Any = None) -> None:
        self.error, self.doc, self.calls = error, doc, 0

    def load(self, bundle: Any) -> None:
        pass

    def query(self, rule_path: str, input: Mapping[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def evaluate(self, input: Mapping[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if input["tenant"] == "tollgate.preflight-probe":  # activation probes: a proper deny
            return {"allow": False, "reasons": [], "obligations": [], "valid_until_ns": None}
        if self.error is not None:
            raise self.error
        return self.doc  # type: ignore[no-any-return]

    def run_tests(self, filter: str | None = None) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


class PanicException(BaseException):
    """Stands in for pyo3's PanicException, which derives from BaseException."""


@pytest.mark.parametrize(
    "engine",
    [
        _Raising(EngineFailure("boom")),
        _Raising(PanicException("rust panicked")),
        _Raising(RuntimeError("bug")),
        _Raising(ValidationFailed("odd")),
        _Raising(doc={"allow": "true", "reasons": []}),
        _Raising(doc={"allow": 1, "reasons": []}),
        _Raising(doc={"allow": True}),
        _Raising(doc=None),
        _Raising(doc=[True]),
    ],
)
def test_engine_failure_is_unavailable_never_allow(engine: _Raising, sink: ListSink,
                                                   clock: Clock) -> None:
    manager = SnapshotManager(lambda: engine)
    manager.load(inputs())
    service = DecisionService(manager, sink, clock=clock)
    with pytest.raises(Unavailable) as err:
        service.decide(Q, gateway())
    assert err.value.status == 503 and err.value.code.startswith("ENGINE")
    assert sink.records == []  # nothing decided, nothing recorded


def test_panic_from_the_real_engine_is_engine_failure(sink: ListSink, clock: Clock) -> None:
    """strings.count(s, "") panics inside regorus (a pyo3 PanicException, a BaseException)."""
    base = inputs()
    modules = {"policy.rego": base.modules["policy.rego"] + (
        '\npanic if strings.count(input.tenant, "") > 0\n\n'
        'deny contains r("X", "x") if { input.tenant == "acme"; panic }\n')}
    manager = SnapshotManager(lambda: create_engine("regorus"))
    manager.load(SnapshotInputs(modules, base.data, "p", 1))
    service = DecisionService(manager, sink, clock=clock)
    with pytest.raises(EngineFailure):
        service.decide(Q, gateway())
    assert sink.records == []
    # The engine recovers for the next request (the adapter rebuilds the thread's engine).
    assert service.decide(PreflightQuery("globex", "aws:eu-central-1", "m-open"), gateway()).outcome.allow
    manager.close()


def test_audit_failure_is_unavailable(service: DecisionService, sink: ListSink) -> None:
    sink.fail = OSError("disk full")
    with pytest.raises(AuditUnavailable) as err:
        service.decide(Q, gateway())
    assert err.value.status == 503
    sink.fail = AuditUnavailable("log down")
    with pytest.raises(AuditUnavailable):
        asyncio.run(service.decide_async(Q, gateway()))


def test_no_policy_loaded_is_503(sink: ListSink) -> None:
    service = DecisionService(SnapshotManager(lambda: create_engine("regorus")), sink)
    with pytest.raises(Unavailable) as err:
        service.decide(Q, gateway())
    assert err.value.code == "POLICY_NOT_LOADED"


def test_a_policy_that_allows_unknown_tenants_is_never_activated(manager: SnapshotManager) -> None:
    allow_all = {"policy.rego": 'package tollgate.routing\n\ndecision := {"allow": true, '
                 '"reasons": [], "obligations": [], "valid_until_ns": null}\n'}
    before = manager.current
    with pytest.raises(EngineFailure):
        manager.load(type(inputs())(allow_all, inputs().data, "evil", 2))
    assert manager.current is before


def test_swap_brings_an_empty_cache_and_new_revisions(service: DecisionService,
                                                      manager: SnapshotManager) -> None:
    seen: list[PolicySnapshot] = []
    manager.subscribe(seen.append)
    assert not service.decide(Q, gateway()).cached
    assert service.decide(Q, gateway()).cached
    manager.load(inputs("B", "p2", 2, tenants={"globex": {}}))
    d = service.decide(Q, gateway())
    assert d.cached is False and (d.policy_revision, d.registry_revision) == ("p2", 2)
    assert d.outcome.reason_codes == ["UNKNOWN_TENANT"]
    assert seen == [manager.current]


def test_concurrent_decisions_during_swaps_never_mix(sink: ListSink, clock: Clock) -> None:
    """Snapshots A and B differ in every part; each answer must be wholly one or the other."""
    manager = SnapshotManager(lambda: create_engine("regorus"))
    a = manager.build(inputs("A", "pA", 1))
    b = manager.build(inputs("B", "pB", 2))
    manager.activate(a)
    service = DecisionService(manager, sink, clock=clock)
    q = PreflightQuery("acme", "nowhere:x", "m-open")  # a deny whose reason facts carry the marker
    stop = threading.Event()
    bad: list[str] = []

    def worker() -> None:
        while not stop.is_set():
            d = service.decide(q, gateway())
            marker = d.outcome.reasons[0]["facts"]["marker"]
            expected = {"A": ("pA", 1), "B": ("pB", 2)}[marker]
            if (d.policy_revision, d.registry_revision) != expected:
                bad.append(f"{marker} with {d.policy_revision}/{d.registry_revision}")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(200):
        manager.activate(b if i % 2 else a, warm=False)
    stop.set()
    for t in threads:
        t.join()
    assert bad == []
    assert len(sink.records) > 0
    manager.close()


def test_batch_keeps_order_pins_one_snapshot_and_reports_forbidden_items(
    service: DecisionService, sink: ListSink
) -> None:
    queries = [PreflightQuery(t, "aws:eu-central-1", m) for t in ("acme", "globex", "acme")
               for m in ("m-open", "m-window", "zzz")]
    out = asyncio.run(service.decide_batch_async(queries, gateway(["acme"])))
    assert len(out) == 9
    for q, d in zip(queries, out, strict=True):
        if q.tenant == "globex":
            assert isinstance(d, Forbidden) and d.code == "TENANT_FORBIDDEN"
        else:
            assert not isinstance(d, Forbidden) and d.query == q
    assert len(sink.records) == 6
    sync = service.decide_batch(queries[:3], gateway())
    assert [d.query for d in sync if not isinstance(d, Forbidden)] == queries[:3]


def test_routes_table(service: DecisionService, sink: ListSink) -> None:
    table = asyncio.run(service.routes_async("acme", "aws:eu-central-1", None, gateway()))
    assert [e.model for e in table.allowed] == ["m-open"]
    assert {e.model: [r["code"] for r in e.reasons] for e in table.excluded} == {
        "m-us": ["EXPORT_RESTRICTED_MODEL", "MODEL_NOT_DEPLOYED"], "m-window": ["COVERED_FRONTIER_PRE_RELEASE"]}
    assert table.valid_until_ns == RELEASE
    assert sink.records[-1]["result"]["decision"] == "route_table"
    later = asyncio.run(service.routes_async("acme", "aws:eu-central-1", RELEASE, gateway()))
    assert [e.model for e in later.allowed] == ["m-open", "m-window"]
    with pytest.raises(Forbidden):
        asyncio.run(service.routes_async("acme", "aws:eu-central-1", None, gateway(["globex"])))


def test_route_changes(service: DecisionService, sink: ListSink) -> None:
    changes = asyncio.run(service.route_changes_async("acme", RELEASE + 10, None, gateway()))
    assert [(t.at_ns, t.model, t.target, t.allow_before, t.allow) for t in changes.transitions] == [
        (RELEASE, "m-window", "aws:eu-central-1", False, True)]
    assert not changes.truncated
    none = asyncio.run(service.route_changes_async("acme", RELEASE - 1, None, gateway()))
    assert none.transitions == ()
    scoped = asyncio.run(service.route_changes_async("acme", RELEASE, "aws:us-east-1", gateway()))
    assert scoped.transitions == ()  # m-window is not deployed there: denied before and after
    with pytest.raises(ValidationFailed):
        asyncio.run(service.route_changes_async("acme", NOW, None, gateway()))
    with pytest.raises(ValidationFailed):
        asyncio.run(service.route_changes_async("acme", NOW + 11 * 366 * 86_400 * 10**9, None,
                                                gateway()))


def test_background_refresh_coalesces_and_swaps(sink: ListSink) -> None:
    revision = iter(range(2, 100))
    manager = SnapshotManager(lambda: create_engine("regorus"),
                              source=lambda: inputs("A", "p", next(revision)))
    swapped = threading.Event()
    manager.subscribe(lambda snap: swapped.set())
    for _ in range(5):
        manager.request_refresh()
    assert swapped.wait(10)
    assert manager.current.registry_revision >= 2
    assert manager.refresh().registry_revision > 2
    manager.close()


def test_records_fit_the_signed_audit_log_schema(service: DecisionService, sink: ListSink) -> None:
    records = pytest.importorskip("broker.audit.records")
    service.decide(PreflightQuery("acme", "aws:eu-central-1", "m-open", at_ns=NOW - 5), gateway())
    asyncio.run(service.routes_async("acme", "aws:eu-central-1", None, gateway()))
    asyncio.run(service.route_changes_async("acme", RELEASE + 1, None, gateway()))
    for rec in sink.records:
        records.validate(rec)
        assert len(records.encode_record(rec)) <= 65_535
