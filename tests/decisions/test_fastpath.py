"""The pure-ASGI pre-flight fast path answers exactly like the FastAPI route it shadows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.decisions.fastpath import PreflightFastPath
from broker.decisions.service import DecisionService
from broker.errors import EngineFailure
from broker.security.keys import DevTokenKey
from tests.decisions.conftest import Tokens, make_app

VOLATILE = {"decision_id", "evaluated_at"}


@pytest.fixture
def pair(service: DecisionService, token_key: DevTokenKey) -> Iterator[tuple[TestClient, TestClient]]:
    plain = make_app(service, token_key)
    fast = make_app(service, token_key)
    fast.add_middleware(PreflightFastPath)
    with TestClient(plain, raise_server_exceptions=False) as a, TestClient(fast, raise_server_exceptions=False) as b:
        yield a, b


def _norm(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _norm(v) for k, v in body.items() if k not in VOLATILE}
    return body


def cases(tokens: Tokens) -> list[tuple[str, dict[str, str], bytes]]:
    gw = {**tokens("gateway"), "content-type": "application/json"}
    ok = b'{"tenant": "t-eu", "region": "aws:eu-central-1", "model": "m-open"}'
    return [
        ("allowed-or-denied", gw, ok),
        (
            "with subject and at",
            gw,
            b'{"tenant":"t-eu","region":"aws:eu-central-1","model":"m-open",'
            b'"subject":{"nationalities":["DE"],"us_person":false},"at":"2026-07-01T00:00:00Z"}',
        ),
        ("unknown ids", gw, b'{"tenant":"nobody","region":"nowhere:x","model":"nothing"}'),
        ("bad json", gw, b'{"tenant": '),
        ("empty body", gw, b""),
        ("missing field", gw, b'{"tenant":"t-eu","model":"m-open"}'),
        ("extra field", gw, b'{"tenant":"t-eu","region":"aws:eu-central-1","model":"m-open","allow":true}'),
        ("bad time", gw, b'{"tenant":"t-eu","region":"aws:eu-central-1","model":"m-open","at":"yesterday"}'),
        ("bool as string", gw, b'{"tenant":"t-eu","region":"r","model":"m","subject":{"us_person":"true"}}'),
        ("no token", {"content-type": "application/json"}, ok),
        ("no content type", tokens("gateway"), ok),
        ("text content type", {**tokens("gateway"), "content-type": "text/plain"}, ok),
        ("json with charset", {**tokens("gateway"), "content-type": "application/json; charset=utf-8"}, ok),
        ("garbage token", {"authorization": "Bearer x.y.z"}, ok),
        ("wrong role", tokens("auditor"), ok),
        ("other tenant", tokens("gateway", tenants=["someone-else"]), ok),
    ]


def test_fast_path_matches_the_route(pair: tuple[TestClient, TestClient], tokens: Tokens) -> None:
    plain, fast = pair
    for name, headers, body in cases(tokens):
        a = plain.post("/v1/preflight", headers=headers, content=body)
        b = fast.post("/v1/preflight", headers=headers, content=body)
        assert (a.status_code, _norm(a.json())) == (b.status_code, _norm(b.json())), name
        assert a.headers.get("www-authenticate") == b.headers.get("www-authenticate"), name


def test_fast_path_fails_closed(pair: tuple[TestClient, TestClient], tokens: Tokens, service: DecisionService) -> None:
    _, fast = pair

    async def broken(*_: Any) -> Any:
        raise EngineFailure("engine exploded")

    service.decide_async = broken  # type: ignore[method-assign]
    r = fast.post("/v1/preflight", headers=tokens("gateway"), json={"tenant": "t", "region": "r", "model": "m"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "ENGINE_FAILURE"

    async def crash(*_: Any) -> Any:
        raise RuntimeError("bug")

    service.decide_async = crash  # type: ignore[method-assign]
    r = fast.post("/v1/preflight", headers=tokens("gateway"), json={"tenant": "t", "region": "r", "model": "m"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "INTERNAL_ERROR"


def test_other_routes_pass_through(pair: tuple[TestClient, TestClient], tokens: Tokens) -> None:
    _, fast = pair
    r = fast.post("/v1/preflight/batch", headers=tokens("gateway"), json={"items": []})
    assert r.status_code in {200, 422}
    assert fast.get("/v1/preflight", headers=tokens("gateway")).status_code == 405
