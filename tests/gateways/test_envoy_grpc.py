"""Envoy ext_authz over real gRPC (``envoy.service.auth.v3.Authorization/Check``)."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import httpx
import pytest
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
from google.rpc import code_pb2

from tests.gateways.conftest import ALLOWED, DENIED
from tests.live import LiveBroker


def check_request(
    q: dict[str, str], *, via: str = "context", body_model: bool = False
) -> external_auth_pb2.CheckRequest:
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        method="POST", path="/v1/chat/completions", headers={"authorization": "Bearer sk-user"}
    )
    ctx: dict[str, str] = {}
    if via == "context":
        ctx = {"tenant": q["tenant"], "serving_region": q["region"]}
    else:
        http.headers["x-tollgate-tenant"] = q["tenant"]
        http.headers["x-tollgate-region"] = q["region"]
    if body_model:
        http.body = json.dumps({"model": q["model"]})
    else:
        http.headers["x-tollgate-model"] = q["model"]
    attrs = attribute_context_pb2.AttributeContext(
        request=attribute_context_pb2.AttributeContext.Request(http=http), context_extensions=ctx
    )
    return external_auth_pb2.CheckRequest(attributes=attrs)


@pytest.fixture(scope="module")
def stub(broker: LiveBroker) -> external_auth_pb2_grpc.AuthorizationStub:
    channel = grpc.insecure_channel(f"127.0.0.1:{broker.grpc_port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    return external_auth_pb2_grpc.AuthorizationStub(channel)


def _meta(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def test_allow_ok_response_with_dynamic_metadata(
    stub: external_auth_pb2_grpc.AuthorizationStub, gateway_token: str
) -> None:
    resp = stub.Check(check_request(ALLOWED), metadata=_meta(gateway_token), timeout=5)
    assert resp.status.code == code_pb2.OK
    assert resp.HasField("ok_response")
    upstream = {h.header.key: h.header.value for h in resp.ok_response.headers}
    decision_id = resp.dynamic_metadata["decision_id"]
    assert upstream["x-tollgate-decision-id"] == decision_id
    assert resp.dynamic_metadata["allow"] is True


def test_deny_denied_response_403_with_reasons(
    stub: external_auth_pb2_grpc.AuthorizationStub, gateway_token: str
) -> None:
    resp = stub.Check(check_request(DENIED, via="headers", body_model=True), metadata=_meta(gateway_token), timeout=5)
    assert resp.status.code == code_pb2.PERMISSION_DENIED
    assert resp.HasField("denied_response") and resp.denied_response.status.code == 403
    body = json.loads(resp.denied_response.body)
    assert "RESIDENCY_VIOLATION" in {r["code"] for r in body["reasons"]}
    assert body["decision_id"] == resp.dynamic_metadata["decision_id"]


def test_missing_gateway_credential_is_denied_not_allowed(stub: external_auth_pb2_grpc.AuthorizationStub) -> None:
    resp = stub.Check(check_request(ALLOWED), timeout=5)
    assert resp.status.code == code_pb2.UNAUTHENTICATED
    assert resp.HasField("denied_response")
    assert json.loads(resp.denied_response.body)["error"]["code"] == "TOKEN_MISSING"


def test_missing_region_is_invalid_argument(stub: external_auth_pb2_grpc.AuthorizationStub, gateway_token: str) -> None:
    req = check_request(ALLOWED)
    del req.attributes.context_extensions["serving_region"]
    resp = stub.Check(req, metadata=_meta(gateway_token), timeout=5)
    assert resp.status.code == code_pb2.INVALID_ARGUMENT
    assert resp.denied_response.status.code == 422


def test_grpc_checks_share_the_http_rate_limits(tmp_path: Path) -> None:
    """gRPC callers spend the same per-principal budget as HTTP callers, and failed
    authentications are rationed per peer address, answered RESOURCE_EXHAUSTED (never OK)."""
    limited = LiveBroker(tmp_path, env={
        "TOLLGATE_RATE_LIMIT_PRINCIPAL_RPS": "0.001", "TOLLGATE_RATE_LIMIT_PRINCIPAL_BURST": "3",
        "TOLLGATE_RATE_LIMIT_AUTH_FAILURES_RPS": "0.001", "TOLLGATE_RATE_LIMIT_AUTH_FAILURES_BURST": "2",
    }).start()
    try:
        token = limited.token("gateway")
        channel = grpc.insecure_channel(f"127.0.0.1:{limited.grpc_port}")
        stub = external_auth_pb2_grpc.AuthorizationStub(channel)
        codes = [stub.Check(check_request(ALLOWED), metadata=_meta(token), timeout=5).status.code for _ in range(2)]
        http = httpx.post(f"{limited.url}/v1/preflight", json=ALLOWED, headers={"authorization": f"Bearer {token}"})
        assert codes == [code_pb2.OK, code_pb2.OK] and http.status_code == 200  # 3 of the burst of 3
        resp = stub.Check(check_request(ALLOWED), metadata=_meta(token), timeout=5)
        assert resp.status.code == code_pb2.RESOURCE_EXHAUSTED
        assert resp.denied_response.status.code == 429
        assert json.loads(resp.denied_response.body)["error"]["code"] == "RATE_LIMITED"

        bad = [stub.Check(check_request(ALLOWED), metadata=_meta("not-a-token"), timeout=5).status.code
               for _ in range(3)]
        assert bad == [code_pb2.UNAUTHENTICATED, code_pb2.UNAUTHENTICATED, code_pb2.RESOURCE_EXHAUSTED]
        channel.close()
    finally:
        limited.stop()
