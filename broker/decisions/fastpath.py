"""``POST /v1/preflight`` as one pure-ASGI handler: the gateway hot path without the framework.

FastAPI's routing, dependency injection and request objects cost ~250 µs a request here, more
than the decision itself. This handler does exactly what the FastAPI route in ``api.py`` does
behind the app's request-context and rate-limit middleware -- same request id, body cap and
rate limits (through the same helpers), same authentication and roles, same pydantic input
model, same service call, same JSON body, same error bodies -- in one coroutine. Three nested
ASGI layers, each wrapping ``receive``/``send`` in closures, cost the broker ~4 µs a request
(benchmarks/preflight.py, audit off: 20.3k -> 24.0k requests/s with them folded in). The
FastAPI route stays registered: it is what OpenAPI documents and what answers when this handler
is not installed; tests check the two give identical answers.
"""

from __future__ import annotations

import json
import time
from time import perf_counter
from typing import Any

import structlog
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker.decisions.encoded import decision_body
from broker.decisions.model import PreflightQuery
from broker.decisions.schemas import PreflightIn
from broker.decisions.service import DecisionService
from broker.decisions.stats import PreflightStats
from broker.errors import AuthenticationFailed, Forbidden, TollgateError
from broker.http.asgi import json_bytes, send_json
from broker.http.middleware import bind_request, content_length_over, reject_too_large, request_id_of
from broker.http.ratelimit import Admission, RateLimiter, bearer_of, too_many
from broker.logging import bind_log
from broker.security.tokens import TokenVerifier

PATH = "/v1/preflight"
ROLES = frozenset({"gateway", "officer", "admin"})  # as ``Caller`` in api.py
_QUERY_MEMO = 4096  # distinct request bodies whose parsed query is remembered ...
_MEMO_MAX_BODY = 1024  # ... if at most this long (a pre-flight body is ~100-300 bytes)
log = structlog.get_logger(__name__)


class _Headers:
    """What the hot path reads from the request headers, found in one pass (the first of each,
    as the route and the middleware read them)."""

    __slots__ = ("authorization", "content_type", "other_credentials", "request_id", "too_large")

    def __init__(self, scope: Scope, max_body: int) -> None:
        self.request_id: bytes | None = None
        self.authorization: bytes | None = None
        self.content_type: bytes | None = None
        self.too_large = False  # a Content-Length over the cap
        self.other_credentials = False  # a second Authorization or an X-Tollgate-Authorization
        for name, value in scope["headers"]:
            if name == b"authorization":
                if self.authorization is None:
                    self.authorization = value
                else:
                    self.other_credentials = True
            elif name == b"content-type":
                if self.content_type is None:
                    self.content_type = value
            elif name == b"content-length":
                if content_length_over(value, max_body):
                    self.too_large = True
            elif name == b"x-request-id":
                if self.request_id is None:
                    self.request_id = value
            elif name == b"x-tollgate-authorization":
                self.other_credentials = True


async def _respond(send: Send, status: int, body: Any, extra: list[tuple[bytes, bytes]]) -> None:
    await send_json(send, status, json_bytes(body), extra)


def _validation_body(exc: ValidationError) -> dict[str, Any]:
    """The same shape ``broker.http.errors`` gives FastAPI's RequestValidationError."""
    errors = []
    for err in exc.errors():
        loc = ["body", *(str(p) for p in err.get("loc", ()))]
        errors.append({"field": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type", "")})
    return _error_body(errors)


def _error_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    return {"error": {"code": "VALIDATION_FAILED", "message": f"{first['field']}: {first['message']}",
                      "details": {"errors": errors}}}


class PreflightFastPath:
    """Intercepts ``POST /v1/preflight``; passes everything else to the app.

    It does the request-context and rate-limit middleware's work itself, so install it in
    front of them (outermost), never behind.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self._limiter: RateLimiter | None = None
        # Only touched from the event loop's thread, so a plain dict needs no lock.
        self._queries: dict[bytes, PreflightQuery] = {}
        self.stats = PreflightStats()  # for /metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        headers = _Headers(scope, self.max_body)
        # The request context, as RequestContextMiddleware sets it up.
        request_id = request_id_of(headers.request_id)
        bind_request(scope, request_id)
        tail = [(b"x-request-id", request_id.encode())]  # the last header of every answer
        if headers.too_large:
            await reject_too_large(send, self.max_body, request_id)
            self.stats.answered(413, perf_counter() - started)
            return
        # The rate limits, as RateLimitMiddleware applies them.
        limiter = self._limiter
        if limiter is None:
            limiter = self._limiter = RateLimiter.for_state(scope["app"].state)
        token = bearer_of(headers.authorization)
        # With one Authorization header and no gateway header, the limiter's token is this one.
        verdict = limiter.admit(scope) if headers.other_credentials else limiter.admit_token(scope, token)
        if verdict.retry_after is not None:
            await too_many(send, verdict.retry_after, verdict.what, tail)
            self.stats.answered(429, perf_counter() - started)
            return
        status = 500
        try:
            status = await self._handle(scope, receive, send, headers=headers, token=token, tail=tail,
                                        verdict=verdict)
        except _BodyTooLarge:
            status = 413
            await reject_too_large(send, self.max_body, request_id)
        except TollgateError as exc:
            status = exc.status
            extra = [(b"www-authenticate", b"Bearer"), *tail] if status == 401 else tail
            if status >= 500:
                log.error("request.failed", code=exc.code, error=exc.message)
            await _respond(send, status, exc.to_body(), extra)
        except Exception as exc:  # never anything but an explicit error
            log.exception("request.crashed", error=repr(exc))
            body = {"error": {"code": "INTERNAL_ERROR", "message": "internal error; see the broker log"}}
            await _respond(send, 500, body, tail)
        self.stats.answered(status, perf_counter() - started)
        if status == 401 and verdict.charge_on_401 is not None:
            limiter.charge_failure(verdict.charge_on_401, time.monotonic())

    async def _handle(self, scope: Scope, receive: Receive, send: Send, *, headers: _Headers,
                      token: str | None, tail: list[tuple[bytes, bytes]], verdict: Admission) -> int:
        """Answer the request (or raise a TollgateError); the status answered."""
        state = scope["app"].state
        verifier: TokenVerifier = state.token_verifier
        service: DecisionService = state.decision_service
        # Authenticate first, exactly like the route's dependency (401 before 422).
        if token is None:
            raise AuthenticationFailed("a bearer token is required", code="TOKEN_MISSING")
        # The rate limiter verified the same token a moment ago (a memo hit): reuse its answer.
        principal = verdict.principal
        if principal is None or token != verdict.token:
            principal = verifier.verify(token)
        if not principal.roles & ROLES:
            raise Forbidden(
                f"this endpoint needs one of the roles {sorted(ROLES)}; token has {sorted(principal.roles)}",
                code="ROLE_FORBIDDEN",
            )
        body = await _read(receive, self.max_body)
        if not body:  # FastAPI reads an absent body as a missing required field
            await _respond(send, 422, _error_body([{"field": "body", "message": "Field required", "type": "missing"}]),
                           tail)
            return 422
        is_json = _is_json(headers.content_type)
        query = self._queries.get(body) if is_json else None
        if query is None:
            query = await self._parse(body, is_json, send, tail)
            if query is None:
                return 422
        bind_log(tenant=query.tenant)
        decision = await service.decide_async(query, principal)
        await send_json(send, 200, decision_body(decision), tail)
        return 200

    async def _parse(self, body: bytes, is_json: bool, send: Send, tail: list[tuple[bytes, bytes]],
                     ) -> PreflightQuery | None:
        """Validate ``body``; answer 422 and return None if it is not a valid pre-flight."""
        doc: Any = body  # like FastAPI's strict content type: only a JSON body is parsed
        if is_json:
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError) as exc:  # deep nesting exhausts the C decoder's stack
                pos = getattr(exc, "pos", 0)
                errors = [{"field": f"body.{pos}", "message": "JSON decode error", "type": "json_invalid"}]
                await _respond(send, 422, _error_body(errors), tail)
                return None
        try:
            query = PreflightIn.model_validate(doc, from_attributes=True).to_query()  # as FastAPI does
        except ValidationError as exc:
            await _respond(send, 422, _validation_body(exc), tail)
            return None
        if is_json and len(body) <= _MEMO_MAX_BODY:
            # Gateways repeat the same few bodies: remember what each one means (a pure function
            # of the bytes; "now" is not in it), so a repeat skips JSON parsing and validation.
            if len(self._queries) >= _QUERY_MEMO:
                del self._queries[next(iter(self._queries))]  # oldest first
            self._queries[body] = query
        return query


def _is_json(content_type: bytes | None) -> bool:
    if not content_type:
        return False
    mime = content_type.split(b";", 1)[0].strip().lower()
    main, _, sub = mime.partition(b"/")
    return main == b"application" and (sub == b"json" or sub.endswith(b"+json"))


class _BodyTooLarge(Exception):
    """The body streamed past the cap (no Content-Length said so up front)."""


async def _read(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
