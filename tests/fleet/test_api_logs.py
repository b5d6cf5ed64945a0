"""POST /logs: gzip round trip into the audit log, idempotency, bounds, validation, durability."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Mapping
from typing import Any

from broker.errors import AuditUnavailable
from tests.fleet.conftest import Fleet


def event(**over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "labels": {"id": "opa-1", "version": "1.4.2", "app": "gw-eu"},
        "decision_id": str(uuid.uuid4()),
        "bundles": {"tollgate": {"revision": "p-7+r42"}},
        "path": "tollgate/routing/decision",
        "input": {"tenant": "acme", "model": "m1", "target": "eu-west-1"},
        "result": {"decision": "deny", "reason_codes": ["TENANT_UNKNOWN"]},
        "requested_by": "10.0.0.7:51234",
        "timestamp": "2025-01-02T03:04:05.123456789Z",
        "metrics": {"timer_rego_query_eval_ns": 12345},
    }
    ev.update(over)
    return ev


def post(fleet: Fleet, events: Any, *, raw: bytes | None = None, gz: bool = True, **headers: str) -> Any:
    body = raw if raw is not None else json.dumps(events).encode()
    h = fleet.headers(**headers)
    if gz:
        body = gzip.compress(body)
        h["Content-Encoding"] = "gzip"
    return fleet.client.post("/logs", content=body, headers={**h, "Content-Type": "application/json"})


def published(fleet: Fleet, n: int) -> list[dict[str, Any]]:
    """The first ``n`` records of the signed log, once a checkpoint covers them."""
    fleet.audit.wait_published(n - 1)
    return [json.loads(e) for e in fleet.audit.entries(0, n)]


def test_gzip_round_trip_into_audit_log(fleet: Fleet) -> None:
    evs = [event(), event(result={"decision": "allow", "reason_codes": []})]
    r = post(fleet, evs)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 2, "appended": 2, "duplicates": 0}
    seen = fleet.service.store.seen([e["decision_id"] for e in evs])
    assert set(seen) == {e["decision_id"] for e in evs}
    assert fleet.audit._seq_size == 2  # durably sequenced before the 200
    recs = published(fleet, 2)
    assert [r["decision_id"] for r in recs] == [e["decision_id"] for e in evs]
    assert recs[0]["engine"] == "opa" and recs[0]["opa"]["event"]["labels"]["id"] == "opa-1"
    assert fleet.audit.find_decision(evs[1]["decision_id"]) == 1


def test_record_shape_keeps_the_full_event(fleet: Fleet) -> None:
    from broker.fleet.logs import to_record

    ev = event()
    rec = to_record(ev, 0, bundle_name="tollgate", uploader={"sub": "opa-sidecar"}, received_at="now")
    assert rec["kind"] == "decision" and rec["engine"] == "opa" and rec["engine_agent"] == "opa-1"
    assert rec["engine_version"] == "1.4.2"
    assert (rec["policy_revision"], rec["registry_revision"]) == ("p-7", 42)
    assert rec["tenant"] == "acme" and rec["model"] == "m1"
    assert rec["time"] == ev["timestamp"] and rec["decision_id"] == ev["decision_id"]
    rebuilt = {**rec["opa"]["event"], "input": rec["input"], "result": rec["result"]}
    assert rebuilt == ev  # nothing of OPA's event is lost


def test_undefined_and_foreign_results_are_recorded_not_refused() -> None:
    from broker.fleet.logs import to_record

    undefined = event()
    del undefined["result"]
    rec = to_record(undefined, 0, bundle_name="tollgate", uploader={}, received_at="now")
    assert rec["result"] == {"decision": "undefined", "reason_codes": ["OPA_RESULT_UNDEFINED"]}
    assert "result" not in rec["opa"]["event"]
    other = to_record(event(result=True, bundles={}), 0, bundle_name="tollgate", uploader={}, received_at="now")
    assert other["result"]["decision"] == "unrecognised" and other["opa"]["event"]["result"] is True
    assert other["policy_revision"] == "none"


def test_repeated_decision_id_is_acknowledged_once(fleet: Fleet) -> None:
    evs = [event(), event()]
    assert post(fleet, evs).json()["appended"] == 2
    r = post(fleet, [*evs, event()])  # OPA re-sends a chunk plus a new event
    assert r.status_code == 200 and r.json() == {"received": 3, "appended": 1, "duplicates": 2}
    dup = event()
    r = post(fleet, [dup, dup])  # duplicates inside one batch
    assert r.json() == {"received": 2, "appended": 1, "duplicates": 1}
    assert fleet.audit._seq_size == 4


def test_idempotency_survives_a_restart(fleet: Fleet, tmp_path: Any) -> None:
    from broker.fleet.store import FleetStore

    ev = event()
    assert post(fleet, [ev]).json()["appended"] == 1
    reopened = FleetStore(fleet.service.store.path)
    assert ev["decision_id"] in reopened.seen([ev["decision_id"]])


def test_plain_json_is_accepted_too(fleet: Fleet) -> None:
    r = post(fleet, [event()], gz=False)
    assert r.status_code == 200 and r.json()["appended"] == 1


def test_gzip_bomb_is_refused_with_413(fleet: Fleet) -> None:
    # ~10 MiB of JSON whitespace compresses to ~10 KiB; the fixture bound is 256 KiB inflated.
    bomb = b"[" + b" " * (10 * 1024 * 1024) + b"]"
    r = post(fleet, None, raw=bomb)
    assert r.status_code == 413 and r.json()["error"]["code"] == "OPA_UPLOAD_TOO_LARGE"
    assert fleet.audit._seq_size == 0


def test_malformed_uploads_are_400(fleet: Fleet) -> None:
    h = {**fleet.headers(), "Content-Encoding": "gzip"}
    r = fleet.client.post("/logs", content=b"not gzip at all", headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "OPA_UPLOAD_INVALID"
    r = fleet.client.post("/logs", content=gzip.compress(b"[1, 2")[:-6], headers=h)
    assert r.status_code == 400
    r = post(fleet, None, raw=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "OPA_UPLOAD_INVALID"
    r = post(fleet, {"not": "an array"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "OPA_UPLOAD_INVALID"
    r = fleet.client.post("/logs", content=b"[]", headers={**fleet.headers(), "Content-Encoding": "br"})
    assert r.status_code == 400


def test_bad_event_is_named_by_index_and_nothing_is_stored(fleet: Fleet) -> None:
    cases: list[tuple[Any, str]] = [
        ("a string", "must be a JSON object"),
        (event(decision_id=""), "decision_id"),
        (event(decision_id=None), "decision_id"),
        (event(labels={"app": "x"}), "labels.id"),
        (event(timestamp="yesterday"), "timestamp"),
        (event(timestamp="2025-01-02T03:04:05"), "timestamp"),
    ]
    for bad, fragment in cases:
        good = event()
        r = post(fleet, [good, bad])
        assert r.status_code == 400, (bad, r.text)
        err = r.json()["error"]
        assert err["code"] == "OPA_EVENT_INVALID" and err["details"]["index"] == 1
        assert err["message"].startswith("event 1:") and fragment in err["message"]
        assert fleet.service.store.seen([good["decision_id"]]) == {}
    assert fleet.audit._seq_size == 0


def test_tenant_scoped_token_cannot_log_other_tenants(fleet: Fleet) -> None:
    token = fleet.token(["gateway"], tenants=["globex"])
    body = gzip.compress(json.dumps([event()]).encode())
    r = fleet.client.post("/logs", content=body,
                          headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"})
    assert r.status_code == 403 and r.json()["error"]["details"]["index"] == 0


def test_roles(fleet: Fleet) -> None:
    assert fleet.client.post("/logs", content=b"[]").status_code == 401
    assert post(fleet, [], Authorization=f"Bearer {fleet.token(['auditor'])}").status_code == 403


class FailingLog:
    """An audit log whose durable write fails (disk full, fsync error, ...)."""

    def __init__(self) -> None:
        self.calls = 0

    def append_many(self, records: list[Mapping[str, Any]]) -> list[int]:
        self.calls += 1
        raise AuditUnavailable("fsync failed")


class HalfLog:
    """append_async succeeds for the first record of a batch and fails for the rest."""

    def __init__(self) -> None:
        self.stored: list[str] = []

    async def append_async(self, record: Mapping[str, Any]) -> int:
        if self.stored and record["decision_id"] != self.stored[0]:
            raise OSError("disk full")
        self.stored.append(record["decision_id"])
        return len(self.stored) - 1


def test_no_2xx_when_the_audit_append_fails(fleet: Fleet) -> None:
    failing = FailingLog()
    fleet.app.state.audit_log = failing
    evs = [event(), event()]
    r = post(fleet, evs)
    assert r.status_code == 503 and r.json()["error"]["code"] == "AUDIT_LOG_UNAVAILABLE"
    assert failing.calls == 1
    assert fleet.service.store.seen([e["decision_id"] for e in evs]) == {}  # nothing acknowledged
    fleet.app.state.audit_log = fleet.audit  # OPA retries the same chunk later: now it is stored
    assert post(fleet, evs).json() == {"received": 2, "appended": 2, "duplicates": 0}


def test_partial_failure_marks_what_was_stored(fleet: Fleet) -> None:
    half = HalfLog()
    fleet.app.state.audit_log = half
    evs = [event(), event(), event()]
    r = post(fleet, evs)
    assert r.status_code == 503
    assert set(fleet.service.store.seen([e["decision_id"] for e in evs])) == {evs[0]["decision_id"]}
    fleet.app.state.audit_log = fleet.audit
    assert post(fleet, evs).json() == {"received": 3, "appended": 2, "duplicates": 1}
