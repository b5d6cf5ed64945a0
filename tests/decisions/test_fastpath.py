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


def test_repeated_bodies_answer_the_same_each_time(pair: tuple[TestClient, TestClient], tokens: Tokens) -> None:
    """The parsed-body memo must change nothing: every case, three times over, in any order
    (a valid body after an invalid one, a text/plain body after the same bytes as JSON)."""
    plain, fast = pair
    every = cases(tokens)
    for _round in range(3):
        for name, headers, body in every + every[::-1]:
            a = plain.post("/v1/preflight", headers=headers, content=body)
            b = fast.post("/v1/preflight", headers=headers, content=body)
            assert (a.status_code, _norm(a.json())) == (b.status_code, _norm(b.json())), name


def test_the_body_memo_is_bounded(pair: tuple[TestClient, TestClient], tokens: Tokens) -> None:
    from broker.decisions import fastpath

    _, fast = pair
    gw = {**tokens("gateway"), "content-type": "application/json"}
    for i in range(fastpath._QUERY_MEMO + 50):
        r = fast.post("/v1/preflight", headers=gw, content=b'{"tenant":"t-%d","region":"r","model":"m"}' % i)
        assert r.status_code == 200
    huge = b'{"tenant":"t-eu","region":"aws:eu-central-1","model":"m-open"' + b" " * 2000 + b"}"
    assert fast.post("/v1/preflight", headers=gw, content=huge).status_code == 200
    memo = next(m for m in _middlewares(fast.app) if isinstance(m, PreflightFastPath))._queries
    assert len(memo) == fastpath._QUERY_MEMO and huge not in memo


def _middlewares(app: Any) -> Iterator[Any]:
    node = app.middleware_stack
    while node is not None:
        yield node
        node = getattr(node, "app", None)


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
