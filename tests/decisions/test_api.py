"""The HTTP surface: every field, every error, batch semantics, routes, 503s that never allow."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.decisions.service import DecisionService
from broker.decisions.snapshot import SnapshotManager
from broker.errors import EngineFailure

from .conftest import ListSink, Tokens

URL = "/v1/preflight"
OK: dict[str, Any] = {"tenant": "acme", "region": "aws:eu-central-1", "model": "m-open"}


def _error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()["error"]
    assert body["code"] == code
    return body


def test_preflight_allow_response_shape(client: TestClient, tokens: Tokens) -> None:
    r = client.post(URL, json=OK, headers=tokens())
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"decision_id", "allow", "reasons", "obligations", "effective_regions",
                         "policy_revision", "registry_revision", "engine", "evaluated_at",
                         "valid_until"}
    assert body["allow"] is True and body["reasons"] == [] and body["obligations"] == []
    assert body["effective_regions"] == ["aws:eu-central-1"]
    assert (body["policy_revision"], body["registry_revision"]) == ("p1", 1)
    assert body["engine"]["name"] == "regorus" and body["engine"]["version"]
    assert body["evaluated_at"] == "2027-01-15T08:00:00Z" and body["valid_until"] is None


def test_scope_window_and_at(client: TestClient, tokens: Tokens) -> None:
    r = client.post(URL, json={**OK, "region": "aws-bedrock:eu"}, headers=tokens()).json()
    assert r["effective_regions"] == ["aws:eu-central-1", "aws:eu-west-1"] and r["allow"]
    win = {**OK, "model": "m-window"}
    r = client.post(URL, json=win, headers=tokens()).json()
    assert r["allow"] is False and r["valid_until"] == "2027-01-15T09:00:00Z"
    assert [x["code"] for x in r["reasons"]] == ["COVERED_FRONTIER_PRE_RELEASE"]
    r = client.post(URL, json={**win, "at": "2027-01-15T10:00:00+01:00"}, headers=tokens()).json()
    assert r["allow"] is True and r["evaluated_at"] == "2027-01-15T09:00:00Z"


def test_subject_fields(client: TestClient, tokens: Tokens) -> None:
    us = {"tenant": "acme", "region": "aws:us-east-1", "model": "m-us"}
    assert client.post(URL, json={**us, "subject": {"us_person": True}}, headers=tokens()).json()["allow"]
    r = client.post(URL, json={**us, "subject": {"nationalities": ["DE"]}}, headers=tokens()).json()
    assert [x["code"] for x in r["reasons"]] == ["EXPORT_RESTRICTED_MODEL"]
    r = client.post(URL, json={**OK, "subject": {"nationalities": ["KP"], "us_person": False}},
                    headers=tokens()).json()
    assert [x["code"] for x in r["reasons"]] == ["SANCTIONED_JURISDICTION"]
    r = client.post(URL, json={**OK, "subject": None}, headers=tokens()).json()
    assert r["allow"] is True


def test_unknown_ids_are_answers_not_errors(client: TestClient, tokens: Tokens) -> None:
    r = client.post(URL, json={"tenant": "ghost", "region": "mars:base-1", "model": "gpt-99"},
                    headers=tokens(tenants=["ghost"]))
    assert r.status_code == 200
    body = r.json()
    assert body["allow"] is False and body["effective_regions"] == []
    assert sorted(x["code"] for x in body["reasons"]) == ["UNKNOWN_MODEL", "UNKNOWN_REGION",
                                                          "UNKNOWN_TENANT"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"region": "aws:eu-central-1", "model": "m"}, "body.tenant"),
        ({"tenant": "acme", "model": "m"}, "body.region"),
        ({"tenant": "acme", "region": "aws:eu-central-1"}, "body.model"),
        ({**OK, "tenant": ""}, "body.tenant"),
        ({**OK, "tenant": "a" * 201}, "body.tenant"),
        ({**OK, "tenant": "has space"}, "body.tenant"),
        ({**OK, "tenant": 5}, "body.tenant"),
        ({**OK, "region": "r" * 129}, "body.region"),
        ({**OK, "model": "m\n"}, "body.model"),
        ({**OK, "at": "2026-07-01T00:00:00"}, "body.at"),
        ({**OK, "at": "yesterday"}, "body.at"),
        ({**OK, "at": 1782864000}, "body.at"),
        ({**OK, "at": "2026-07-01T00:00:00Z" + " " * 60}, "body.at"),
        ({**OK, "subject": "US"}, "body.subject"),
        ({**OK, "subject": {"nationalities": "DE"}}, "body.subject.nationalities"),
        ({**OK, "subject": {"nationalities": ["de"]}}, "body.subject.nationalities.0"),
        ({**OK, "subject": {"nationalities": ["DE"] * 33}}, "body.subject.nationalities"),
        ({**OK, "subject": {"us_person": "yes"}}, "body.subject.us_person"),
        ({**OK, "subject": {"us_person": 1}}, "body.subject.us_person"),
        ({**OK, "subject": {"passport": "X"}}, "body.subject.passport"),
        ({**OK, "extra": 1}, "body.extra"),
    ],
)
def test_invalid_input_is_422_naming_the_field(client: TestClient, tokens: Tokens,
                                               body: dict[str, Any], field: str) -> None:
    err = _error(client.post(URL, json=body, headers=tokens()), 422, "VALIDATION_FAILED")
    assert field in [e["field"] for e in err["details"]["errors"]], err


def test_non_json_body_is_422(client: TestClient, tokens: Tokens) -> None:
    _error(client.post(URL, content=b"{nope", headers={**tokens(), "content-type": "application/json"}),
           422, "VALIDATION_FAILED")


def test_authentication_and_roles(client: TestClient, tokens: Tokens) -> None:
    _error(client.post(URL, json=OK), 401, "TOKEN_MISSING")
    _error(client.post(URL, json=OK, headers={"Authorization": "Bearer x.y.z"}), 401, "TOKEN_MALFORMED")
    _error(client.post(URL, json=OK, headers=tokens("auditor")), 403, "ROLE_FORBIDDEN")
    _error(client.post(URL, json=OK, headers=tokens("approver")), 403, "ROLE_FORBIDDEN")
    for role in ("gateway", "officer", "admin"):
        assert client.post(URL, json=OK, headers=tokens(role)).status_code == 200


def test_tenant_scoped_gateway_token(client: TestClient, tokens: Tokens, sink: ListSink) -> None:
    err = _error(client.post(URL, json=OK, headers=tokens(tenants=["globex"])), 403,
                 "TENANT_FORBIDDEN")
    assert err["details"] == {"tenant": "acme"}
    assert sink.records == []
    assert client.post(URL, json=OK, headers=tokens(tenants=["acme", "globex"])).status_code == 200
    _error(client.get("/v1/tenants/acme/routes?region=aws:eu-central-1",
                      headers=tokens(tenants=["globex"])), 403, "TENANT_FORBIDDEN")
    _error(client.get("/v1/tenants/acme/routes/changes?until=2027-02-01T00:00:00Z",
                      headers=tokens(tenants=["globex"])), 403, "TENANT_FORBIDDEN")


def test_every_decision_is_audited(client: TestClient, tokens: Tokens, sink: ListSink) -> None:
    ids = [client.post(URL, json=OK, headers=tokens()).json()["decision_id"] for _ in range(3)]
    assert [r["decision_id"] for r in sink.records] == ids
    assert [r["result"]["source"] for r in sink.records] == ["engine", "cache", "cache"]
    assert sink.records[0]["caller"]["sub"] == "caller"


def test_audit_failure_is_503(client: TestClient, tokens: Tokens, sink: ListSink) -> None:
    sink.fail = OSError("disk gone")
    err = _error(client.post(URL, json=OK, headers=tokens()), 503, "AUDIT_LOG_UNAVAILABLE")
    assert "allow" not in err
    r = client.post(f"{URL}/batch", json={"items": [OK]}, headers=tokens())
    _error(r, 503, "AUDIT_LOG_UNAVAILABLE")


def test_engine_failure_is_503_never_allow(client: TestClient, tokens: Tokens,
                                           manager: SnapshotManager, sink: ListSink,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    snap = manager.current
    assert client.post(URL, json={**OK, "model": "m-window"}, headers=tokens()).status_code == 200

    def explode(input: Any) -> Any:
        raise EngineFailure("engine crashed")

    monkeypatch.setattr(snap.engine, "evaluate", explode)
    before = len(sink.records)
    for path, body in ((URL, OK), (f"{URL}/batch", {"items": [OK]})):
        r = client.post(path, json=body, headers=tokens())
        err = _error(r, 503, "ENGINE_FAILURE")
        assert "allow" not in r.text and err["message"]
    _error(client.get("/v1/tenants/acme/routes?region=aws:eu-central-1", headers=tokens()), 503,
           "ENGINE_FAILURE")
    assert len(sink.records) == before

    def lies(input: Any) -> Any:
        return {"allow": "true", "reasons": []}

    monkeypatch.setattr(snap.engine, "evaluate", lies)
    _error(client.post(URL, json=OK, headers=tokens()), 503, "ENGINE_BAD_OUTPUT")


def test_no_policy_is_503(client: TestClient, tokens: Tokens, manager: SnapshotManager) -> None:
    manager.close()
    _error(client.post(URL, json=OK, headers=tokens()), 503, "POLICY_NOT_LOADED")


def test_batch_order_and_per_item_errors(client: TestClient, tokens: Tokens, sink: ListSink) -> None:
    items: list[Any] = [
        OK,
        {**OK, "model": "m-window"},
        {**OK, "tenant": "globex"},
        {**OK, "bogus": True},
        "not an object",
        {**OK, "at": "2027-01-15T09:00:00Z", "model": "m-window"},
    ]
    r = client.post(f"{URL}/batch", json={"items": items}, headers=tokens(tenants=["acme"]))
    assert r.status_code == 200, r.text
    out = r.json()["items"]
    assert [i["status"] for i in out] == [200, 200, 403, 422, 422, 200]
    assert out[0]["decision"]["allow"] is True and out[1]["decision"]["allow"] is False
    assert out[2]["error"]["code"] == "TENANT_FORBIDDEN"
    assert out[3]["error"]["details"]["errors"][0]["field"] == "items.3.bogus"
    assert out[4]["error"]["code"] == "VALIDATION_FAILED"
    assert out[5]["decision"]["allow"] is True
    assert len(sink.records) == 3


def test_batch_limits(client: TestClient, tokens: Tokens) -> None:
    many = {"items": [{**OK, "model": f"m-{i}"} for i in range(1000)]}
    r = client.post(f"{URL}/batch", json=many, headers=tokens())
    assert r.status_code == 200
    assert [i["decision"]["reasons"][0]["code"] for i in r.json()["items"]] == ["UNKNOWN_MODEL"] * 1000
    too_many = {"items": [OK] * 1001}
    err = _error(client.post(f"{URL}/batch", json=too_many, headers=tokens()), 422,
                 "VALIDATION_FAILED")
    assert err["details"]["errors"][0]["field"] == "body.items"
    _error(client.post(f"{URL}/batch", json={"items": [], "x": 1}, headers=tokens()), 422,
           "VALIDATION_FAILED")
    _error(client.post(f"{URL}/batch", json=[OK], headers=tokens()), 422, "VALIDATION_FAILED")
    assert client.post(f"{URL}/batch", json={"items": []}, headers=tokens()).json() == {"items": []}


def test_routes(client: TestClient, tokens: Tokens) -> None:
    r = client.get("/v1/tenants/acme/routes", params={"region": "aws:eu-central-1"}, headers=tokens())
    assert r.status_code == 200, r.text
    body = r.json()
    assert [m["model"] for m in body["allowed"]] == ["m-open"]
    assert {m["model"] for m in body["excluded"]} == {"m-us", "m-window"}
    assert body["valid_until"] == "2027-01-15T09:00:00Z"
    assert body["effective_regions"] == ["aws:eu-central-1"]
    later = client.get("/v1/tenants/acme/routes", headers=tokens(),
                       params={"region": "aws:eu-central-1", "at": "2027-01-15T09:00:00Z"}).json()
    assert [m["model"] for m in later["allowed"]] == ["m-open", "m-window"]
    err = _error(client.get("/v1/tenants/acme/routes", params={"region": "aws:eu-central-1",
                            "at": "soon"}, headers=tokens()), 422, "VALIDATION_FAILED")
    assert err["details"]["errors"][0]["field"] == "query.at"
    err = _error(client.get("/v1/tenants/acme/routes", headers=tokens()), 422, "VALIDATION_FAILED")
    assert err["details"]["errors"][0]["field"] == "query.region"
    _error(client.get("/v1/tenants/acme/routes", params={"region": "aws:eu-central-1"},
                      headers=tokens("auditor")), 403, "ROLE_FORBIDDEN")


def test_route_changes(client: TestClient, tokens: Tokens) -> None:
    r = client.get("/v1/tenants/acme/routes/changes", params={"until": "2027-02-01T00:00:00Z"},
                   headers=tokens())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["transitions"] == [{
        "at": "2027-01-15T09:00:00Z", "model": "m-window", "region": "aws:eu-central-1",
        "allow_before": False, "allow": True, "reasons": [],
    }]
    assert body["since"] == "2027-01-15T08:00:00Z" and body["truncated"] is False
    for params, field in (({}, "query.until"), ({"until": "later"}, "query.until"),
                          ({"until": "2020-01-01T00:00:00Z"}, "until")):
        err = _error(client.get("/v1/tenants/acme/routes/changes", params=params, headers=tokens()),
                     422, "VALIDATION_FAILED")
        assert field in str(err)


def test_service_is_reused_from_app_state(client: TestClient, service: DecisionService) -> None:
    assert client.app.state.decision_service is service  # type: ignore[attr-defined]
