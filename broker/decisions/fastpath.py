"""``POST /v1/preflight`` as a pure-ASGI handler: the gateway hot path without the framework.

FastAPI's routing, dependency injection and request objects cost ~250 µs a request here, more
than the decision itself. This handler does exactly what the FastAPI route in ``api.py`` does —
same authentication and roles, same pydantic input model, same service call, same JSON body,
same error bodies — with none of that machinery. The FastAPI route stays registered: it is what
OpenAPI documents and what answers when this middleware is not installed; a test checks the two
give identical answers.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker.decisions.encoded import decision_body
from broker.decisions.model import PreflightQuery
from broker.decisions.schemas import PreflightIn
from broker.decisions.service import DecisionService
from broker.errors import AuthenticationFailed, Forbidden, TollgateError
from broker.security.tokens import TokenVerifier

PATH = "/v1/preflight"
ROLES = frozenset({"gateway", "officer", "admin"})  # as ``Caller`` in api.py
_QUERY_MEMO = 4096  # distinct request bodies whose parsed query is remembered ...
_MEMO_MAX_BODY = 1024  # ... if at most this long (a pre-flight body is ~100-300 bytes)
log = structlog.get_logger(__name__)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _respond(send: Send, status: int, body: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    await _send_json(send, status, data, extra)


async def _send_json(send: Send, status: int, data: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": data})


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
    """Intercepts ``POST /v1/preflight``; passes everything else to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Only touched from the event loop's thread, so a plain dict needs no lock.
        self._queries: dict[bytes, PreflightQuery] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            await self._handle(scope, receive, send)
        except TollgateError as exc:
            extra = [(b"www-authenticate", b"Bearer")] if exc.status == 401 else None
            if exc.status >= 500:
                log.error("request.failed", code=exc.code, error=exc.message)
            await _respond(send, exc.status, exc.to_body(), extra)
        except Exception as exc:  # never anything but an explicit error
            log.exception("request.crashed", error=repr(exc))
            body = {"error": {"code": "INTERNAL_ERROR", "message": "internal error; see the broker log"}}
            await _respond(send, 500, body)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        verifier: TokenVerifier = state.token_verifier
        service: DecisionService = state.decision_service
        # Authenticate first, exactly like the route's dependency (401 before 422).
        auth = _header(scope, b"authorization")
        scheme, _, token = (auth or b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("a bearer token is required", code="TOKEN_MISSING")
        principal = verifier.verify(token.strip())
        if not principal.roles & ROLES:
            raise Forbidden(
                f"this endpoint needs one of the roles {sorted(ROLES)}; token has {sorted(principal.roles)}",
                code="ROLE_FORBIDDEN",
            )
        body = await _read(receive)
        if not body:  # FastAPI reads an absent body as a missing required field
            await _respond(send, 422, _error_body([{"field": "body", "message": "Field required", "type": "missing"}]))
            return
        is_json = _is_json(_header(scope, b"content-type"))
        query = self._queries.get(body) if is_json else None
        if query is None:
            query = await self._parse(body, is_json, send)
            if query is None:
                return
        structlog.contextvars.bind_contextvars(tenant=query.tenant)
        decision = await service.decide_async(query, principal)
        await _send_json(send, 200, decision_body(decision))

    async def _parse(self, body: bytes, is_json: bool, send: Send) -> PreflightQuery | None:
        """Validate ``body``; answer 422 and return None if it is not a valid pre-flight."""
        doc: Any = body  # like FastAPI's strict content type: only a JSON body is parsed
        if is_json:
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError) as exc:  # deep nesting exhausts the C decoder's stack
                pos = getattr(exc, "pos", 0)
                errors = [{"field": f"body.{pos}", "message": "JSON decode error", "type": "json_invalid"}]
                await _respond(send, 422, _error_body(errors))
                return None
        try:
            query = PreflightIn.model_validate(doc, from_attributes=True).to_query()  # as FastAPI does
        except ValidationError as exc:
            await _respond(send, 422, _validation_body(exc))
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


async def _read(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)
