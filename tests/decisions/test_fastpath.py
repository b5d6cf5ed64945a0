"""The pure-ASGI pre-flight fast path answers exactly like the FastAPI route it shadows, behind
the request-context and rate-limit middleware whose work it does itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.decisions.fastpath import PreflightFastPath
from broker.decisions.service import DecisionService
from broker.errors import EngineFailure
from broker.http.middleware import RequestContextMiddleware
from broker.http.ratelimit import RateLimitConfig, RateLimitMiddleware
from broker.security.keys import DevTokenKey
from tests.decisions.conftest import Tokens, make_app

VOLATILE = {"decision_id", "evaluated_at"}
MAX_BODY = 4096


def _layered(service: DecisionService, key: DevTokenKey, fast: bool, limits: RateLimitConfig | None) -> Any:
    """The route behind the app's request-context and rate-limit middleware, as create_app
    stacks them; ``fast``: with the fast path in front of them all."""
    app = make_app(service, key)
    if limits is not None:
        app.state.rate_limit = limits
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=MAX_BODY)
    if fast:
        app.add_middleware(PreflightFastPath, max_body_bytes=MAX_BODY)
    return app


@pytest.fixture
def pair(service: DecisionService, token_key: DevTokenKey) -> Iterator[tuple[TestClient, TestClient]]:
    plain = _layered(service, token_key, False, None)
    fast = _layered(service, token_key, True, None)
    with TestClient(plain, raise_server_exceptions=False) as a, TestClient(fast, raise_server_exceptions=False) as b:
        yield a, b


def _norm(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _norm(v) for k, v in body.items() if k not in VOLATILE}
    return body


def cases(tokens: Tokens) -> list[tuple[str, Any, bytes]]:
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
        ("token in the gateway header only", {"x-tollgate-authorization": gw["Authorization"]}, ok),
        ("caller's request id", {**gw, "x-request-id": "gw-123.a:b"}, ok),
        ("insane request id", {**gw, "x-request-id": "no spaces allowed"}, ok),
        ("request id on an error", {"x-request-id": "gw-401"}, ok),
        ("body over the cap", gw, b'{"tenant":"t-eu","region":"r","model":"m"' + b" " * MAX_BODY + b"}"),
        ("basic, then a bearer", [("authorization", "Basic dTpw"), ("authorization", gw["Authorization"]),
                                  ("content-type", "application/json")], ok),
        ("both credential headers", {**gw, "x-tollgate-authorization": "Bearer x.y.z"}, ok),
        ("two content lengths, one over the cap", [*gw.items(), ("content-length", str(MAX_BODY + 1))], ok),
    ]


def _same(a: Any, b: Any, name: str) -> None:
    assert (a.status_code, _norm(a.json())) == (b.status_code, _norm(b.json())), name
    for header in ("www-authenticate", "retry-after", "content-type"):
        assert a.headers.get(header) == b.headers.get(header), (name, header)
    ids = a.headers["x-request-id"], b.headers["x-request-id"]
    if ids[0] in {"gw-123.a:b", "gw-401"}:  # the caller's id is echoed ...
        assert ids[0] == ids[1], name
    else:  # ... anything else gets a fresh one
        assert all(len(i) == 32 for i in ids) and ids[0] != ids[1], name


def test_fast_path_matches_the_route(pair: tuple[TestClient, TestClient], tokens: Tokens) -> None:
    plain, fast = pair
    for name, headers, body in cases(tokens):
        a = plain.post("/v1/preflight", headers=headers, content=body)
        b = fast.post("/v1/preflight", headers=headers, content=body)
        _same(a, b, name)


def test_rate_limits_match_the_middleware(service: DecisionService, token_key: DevTokenKey, tokens: Tokens) -> None:
    """Same buckets, same order: a principal's burst, then 429 with Retry-After; invalid tokens
    charged per address on their 401, then refused with 429 before any verification."""
    limits = RateLimitConfig(principal_rate=0.01, principal_burst=5, failure_rate=0.01, failure_burst=4)
    gw = {**tokens("gateway"), "content-type": "application/json"}
    ok = b'{"tenant": "t-eu", "region": "aws:eu-central-1", "model": "m-open"}'
    sequence = [("valid", gw)] * 7 + [("garbage", {"authorization": "Bearer x.y.z"})] * 6 + [
        ("no token", {"content-type": "application/json"}), ("valid again", gw)]
    with (TestClient(_layered(service, token_key, False, limits), raise_server_exceptions=False) as plain,
          TestClient(_layered(service, token_key, True, limits), raise_server_exceptions=False) as fast):
        statuses = []
        for name, headers in sequence:
            a = plain.post("/v1/preflight", headers=headers, content=ok)
            b = fast.post("/v1/preflight", headers=headers, content=ok)
            _same(a, b, name)
            statuses.append(b.status_code)
    assert statuses == [200] * 5 + [429] * 2 + [401] * 4 + [429] * 2 + [401, 429]


def test_repeated_bodies_answer_the_same_each_time(pair: tuple[TestClient, TestClient], tokens: Tokens) -> None:
    """The parsed-body memo must change nothing: every case, three times over, in any order
    (a valid body after an invalid one, a text/plain body after the same bytes as JSON)."""
    plain, fast = pair
    every = cases(tokens)
    for _round in range(3):
        for name, headers, body in every + every[::-1]:
            a = plain.post("/v1/preflight", headers=headers, content=body)
            b = fast.post("/v1/preflight", headers=headers, content=body)
            _same(a, b, name)


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


def test_a_streamed_body_over_the_cap_is_refused_alike(pair: tuple[TestClient, TestClient], tokens: Tokens) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap is enforced while reading
        yield b'{"tenant":"t-eu","region":"r","model":"m"'
        for _ in range(MAX_BODY // 512 + 1):
            yield b" " * 512
        yield b"}"

    plain, fast = pair
    headers = {**tokens("gateway"), "content-type": "application/json", "x-request-id": "gw-123.a:b"}
    a = plain.post("/v1/preflight", headers=headers, content=chunks())
    b = fast.post("/v1/preflight", headers=headers, content=chunks())
    _same(a, b, "streamed")
    assert b.status_code == 413 and b.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_the_decision_is_made_in_the_request_log_context(pair: tuple[TestClient, TestClient], tokens: Tokens,
                                                          service: DecisionService) -> None:
    from broker.logging import merge_log_context

    seen: list[dict[str, Any]] = []
    decide = service.decide_async

    async def spy(*args: Any) -> Any:
        seen.append(dict(merge_log_context(None, "info", {})))
        return await decide(*args)

    service.decide_async = spy  # type: ignore[method-assign]
    headers = {**tokens("gateway"), "x-request-id": "gw-ctx-1"}
    for client in pair:
        r = client.post("/v1/preflight", headers=headers, json={"tenant": "t-eu", "region": "r", "model": "m"})
        assert r.status_code == 200
    assert seen == [{"request_id": "gw-ctx-1", "tenant": "t-eu"}] * 2  # the route, then the fast path
