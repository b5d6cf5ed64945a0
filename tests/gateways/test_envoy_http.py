"""Envoy ext_authz raw-HTTP mode against a real broker process."""

from __future__ import annotations

import json

import httpx

from tests.gateways.conftest import ALLOWED, DENIED
from tests.live import LiveBroker


def headers(token: str, q: dict[str, str], *, model: bool = True) -> dict[str, str]:
    h = {
        "x-tollgate-authorization": f"Bearer {token}",
        "x-tollgate-tenant": q["tenant"],
        "x-tollgate-region": q["region"],
        # The end user's own credential to the model provider: must be ignored.
        "authorization": "Bearer sk-user-credential",
    }
    if model:
        h["x-tollgate-model"] = q["model"]
    return h


def test_allow_is_200_with_decision_headers(broker: LiveBroker, gateway_token: str) -> None:
    r = httpx.post(broker.url + "/ext-authz/v1/chat/completions", headers=headers(gateway_token, ALLOWED))
    assert r.status_code == 200, r.text
    assert r.headers["x-tollgate-decision-id"]
    assert r.headers["x-tollgate-reasons"] == ""
    assert r.headers["x-tollgate-policy-revision"]  # the active policy version id


def test_deny_is_403_with_reason_codes(broker: LiveBroker, gateway_token: str) -> None:
    r = httpx.get(broker.url + "/ext-authz/anything?x=1", headers=headers(gateway_token, DENIED))
    assert r.status_code == 403
    body = r.json()
    assert body["allow"] is False and body["decision_id"] == r.headers["x-tollgate-decision-id"]
    assert "RESIDENCY_VIOLATION" in {x["code"] for x in body["reasons"]}
    assert "RESIDENCY_VIOLATION" in r.headers["x-tollgate-reasons"]
    assert r.content == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()  # compact


def test_model_read_from_forwarded_json_body(broker: LiveBroker, gateway_token: str) -> None:
    body = json.dumps({"model": ALLOWED["model"], "messages": []})
    r = httpx.post(
        broker.url + "/ext-authz/v1/chat/completions",
        headers={**headers(gateway_token, ALLOWED, model=False), "x-envoy-auth-partial-body": "false"},
        content=body,
    )
    assert r.status_code == 200, r.text


def test_missing_fields_are_explicit_denials(broker: LiveBroker, gateway_token: str) -> None:
    h = headers(gateway_token, ALLOWED, model=False)
    r = httpx.post(broker.url + "/ext-authz/x", headers=h, content=b"not json")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "GATEWAY_FIELD_MISSING"
    h = headers(gateway_token, ALLOWED)
    del h["x-tollgate-tenant"]
    r = httpx.post(broker.url + "/ext-authz/x", headers=h)
    assert r.status_code == 422 and "x-tollgate-tenant" in r.json()["error"]["message"]


def test_gateway_credential_required_and_user_authorization_ignored(broker: LiveBroker) -> None:
    user_token_only = headers("", ALLOWED)
    del user_token_only["x-tollgate-authorization"]
    r = httpx.post(broker.url + "/ext-authz/x", headers=user_token_only)
    assert r.status_code == 401 and r.json()["error"]["code"] == "TOKEN_MISSING"
    auditor = broker.token("auditor")
    r = httpx.post(broker.url + "/ext-authz/x", headers=headers(auditor, ALLOWED))
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_FORBIDDEN"


def test_tenant_scoped_gateway_token(broker: LiveBroker) -> None:
    scoped = broker.token("gateway", tenants=["demo-uk"])
    r = httpx.post(broker.url + "/ext-authz/x", headers=headers(scoped, ALLOWED))
    assert r.status_code == 403 and r.json()["error"]["code"] == "TENANT_FORBIDDEN"


def test_every_method_is_served_and_documented_under_its_own_operation_id(broker: LiveBroker,
                                                                          gateway_token: str) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        for path in ("/ext-authz", "/ext-authz/v1/chat/completions"):
            r = httpx.request(method, broker.url + path, headers=headers(gateway_token, ALLOWED))
            assert r.status_code == 200, (method, path, r.text)
    spec = httpx.get(broker.url + "/openapi.json").json()
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))  # client generators refuse duplicates
    assert set(spec["paths"]["/ext-authz/{path}"]) == {"get", "post", "put", "patch", "delete", "head", "options"}
