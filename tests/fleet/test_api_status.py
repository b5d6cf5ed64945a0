"""POST /status and GET /v1/fleet/agents: who runs which revision, who is stale."""

from __future__ import annotations

import gzip
import json
from typing import Any

from tests.fleet.conftest import Fleet, sample_bundle


def status(agent: str, revision: str | None, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "labels": {"id": agent, "version": "1.4.2", "app": "gw"},
        "bundles": {} if revision is None else {"tollgate": {
            "name": "tollgate", "active_revision": revision,
            "last_successful_activation": "2025-01-02T03:04:05Z", "last_request": "2025-01-02T03:05:00Z",
        }},
        "plugins": {"bundle": {"state": "OK"}, "decision_logs": {"state": "OK"}, "status": {"state": "OK"}},
        "decision_logs": {"code": "", "http_code": 200},
        "metrics": {"prometheus": {"huge": "x" * 10_000}},
    }
    doc.update(over)
    return doc


def report(fleet: Fleet, doc: Any, path: str = "/status") -> Any:
    return fleet.client.post(path, json=doc, headers=fleet.headers())


def agents(fleet: Fleet, role: str = "auditor") -> Any:
    return fleet.client.get("/v1/fleet/agents", headers=fleet.headers([role]))


def test_fleet_view_and_staleness(fleet: Fleet) -> None:
    assert report(fleet, status("opa-a", "p-7+r42")).json() == {"agent": "opa-a"}
    assert report(fleet, status("opa-b", "p-7+r41"), "/status/eu-west").status_code == 200
    fleet.clock.now += 200
    assert report(fleet, status("opa-c", None)).status_code == 200
    broken = status("opa-d", "p-7+r42", plugins={"bundle": {"state": "ERROR"}})
    broken["bundles"]["tollgate"].update(code="bundle_error", message="signature verification failed")
    assert report(fleet, broken).status_code == 200

    body = agents(fleet).json()
    assert body["active_revision"] == "p-7+r42"
    by_id = {a["id"]: a for a in body["agents"]}
    assert by_id["opa-a"]["revision"] == "p-7+r42" and not by_id["opa-a"]["stale"]
    assert by_id["opa-b"]["stale_reasons"] == ["revision_behind"]
    assert by_id["opa-c"]["stale_reasons"] == ["no_bundle_active"]
    assert by_id["opa-d"]["problems"] == ["plugin bundle is ERROR",
                                          "bundle tollgate: bundle_error: signature verification failed"]
    assert body["summary"] == {"agents": 4, "stale": 2, "current": 2,
                               "by_revision": {"p-7+r42": 2, "p-7+r41": 1, "(none)": 1}}
    assert "prometheus" not in json.dumps(by_id["opa-a"])

    fleet.clock.now += 200  # opa-a last reported 400 s ago, beyond the 300 s bound
    by_id = {a["id"]: a for a in agents(fleet, "officer").json()["agents"]}
    assert by_id["opa-a"]["stale_reasons"] == ["not_reporting"]
    assert by_id["opa-d"]["stale"] is False

    fleet.source.bundle = sample_bundle(registry_revision=43)  # activation: everyone is behind now
    body = agents(fleet, "admin").json()
    assert body["active_revision"] == "p-7+r43" and body["summary"]["stale"] == 4


def test_latest_report_wins(fleet: Fleet) -> None:
    report(fleet, status("opa-a", "p-7+r41"))
    fleet.clock.now += 5
    report(fleet, status("opa-a", "p-7+r42"))
    body = agents(fleet).json()
    assert len(body["agents"]) == 1 and body["agents"][0]["revision_current"]
    assert body["agents"][0]["reported_by"] == "opa-sidecar"


def test_gzip_status_is_accepted(fleet: Fleet) -> None:
    h = {**fleet.headers(), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    r = fleet.client.post("/status", content=gzip.compress(json.dumps(status("opa-z", "x")).encode()), headers=h)
    assert r.status_code == 200


def test_invalid_status_and_roles(fleet: Fleet) -> None:
    r = report(fleet, {"labels": {}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "OPA_STATUS_INVALID"
    r = fleet.client.post("/status", content=b"{", headers=fleet.headers())
    assert r.status_code == 400
    assert fleet.client.post("/status", json=status("x", None)).status_code == 401
    assert fleet.client.post("/status", json=status("x", None), headers=fleet.headers(["officer"])).status_code == 403
    assert agents(fleet, "gateway").status_code == 403
    assert fleet.client.get("/v1/fleet/agents").status_code == 401
