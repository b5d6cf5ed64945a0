"""A failure inside the broker is never an allow, in any dialect.

The in-process app is started for real (lifespan, registry, audit log, engine, gRPC server);
then the live engine is made to fail the way engines fail (an exception, a Rust panic that is a
BaseException, a malformed document) and every dialect must answer with an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.service.auth.v3 import external_auth_pb2_grpc
from fastapi.testclient import TestClient
from google.rpc import code_pb2

from broker.app import create_app
from broker.config import Settings
from broker.security.keys import ensure_dev_token_key
from broker.security.tokens import issue_token
from tests.gateways.conftest import ALLOWED
from tests.gateways.test_envoy_grpc import check_request
from tests.live import free_port


class FakePanic(BaseException):
    """Stands in for pyo3's PanicException, which is a BaseException."""


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, int]]:
    data = Path(tmp_path_factory.mktemp("failures"))
    port = free_port()
    settings = Settings(data_dir=data, include_demo=True, grpc_port=port)
    key = ensure_dev_token_key(settings.keys_dir)
    token = issue_token(
        key, subject="gw", roles=["gateway"], issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    with TestClient(create_app(settings)) as client:
        yield client, token, port


@pytest.fixture(params=["exception", "panic", "malformed", "truthy-non-bool"])
def broken_engine(request: pytest.FixtureRequest, app_client: tuple[TestClient, str, int]) -> Iterator[None]:
    client = app_client[0]
    snap = client.app.state.snapshot_manager.current  # type: ignore[attr-defined]
    engine = snap.engine
    original = engine.evaluate
    snap.cache.clear()  # every request below must reach the engine

    def broken(input: Any) -> Any:
        if request.param == "exception":
            raise RuntimeError("engine exploded")
        if request.param == "panic":
            raise FakePanic("window size must be non-zero")
        if request.param == "malformed":
            return {"reasons": []}
        return {"allow": 1, "reasons": [], "obligations": [], "valid_until_ns": None}

    engine.evaluate = broken
    yield
    engine.evaluate = original


def _h(token: str) -> dict[str, str]:
    return {
        "x-tollgate-authorization": f"Bearer {token}",
        "x-tollgate-tenant": ALLOWED["tenant"],
        "x-tollgate-region": ALLOWED["region"],
        "x-tollgate-model": ALLOWED["model"],
    }


def test_every_dialect_fails_closed(app_client: tuple[TestClient, str, int], broken_engine: None) -> None:
    client, token, port = app_client
    auth = {"authorization": f"Bearer {token}"}
    r = client.post("/v1/preflight", json=ALLOWED, headers=auth)
    assert r.status_code == 503 and r.json()["error"]["code"].startswith("ENGINE")
    r = client.post("/v1/preflight/batch", json={"items": [ALLOWED]}, headers=auth)
    assert r.status_code == 503
    r = client.post("/ext-authz/v1/chat", headers=_h(token))
    assert r.status_code == 503
    r = client.post("/v1/data/tollgate/routing/decision", json={"input": ALLOWED}, headers=auth)
    assert r.status_code == 503
    r = client.post(
        "/beta/litellm_basic_guardrail_api",
        json={
            "input_type": "request",
            "model": ALLOWED["model"],
            "additional_provider_specific_params": {"tenant": ALLOWED["tenant"], "serving_region": ALLOWED["region"]},
        },
        headers=auth,
    )
    assert r.status_code == 503  # LiteLLM's unreachable_fallback: fail_closed blocks on 503
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = external_auth_pb2_grpc.AuthorizationStub(channel)
        resp = stub.Check(check_request(ALLOWED), metadata=[("authorization", f"Bearer {token}")], timeout=5)
    assert resp.status.code == code_pb2.UNAVAILABLE
    assert resp.HasField("error_response") and resp.error_response.status.code == 503
