"""Token-bucket rate limiting for token-bearing requests (pure ASGI, no framework on the path).

Two kinds of bucket:

* **per principal** (the verified token's ``sub``): a generous rate, sized for a gateway that
  sends all of its traffic with one token; it stops a runaway or stolen credential from
  monopolising the broker and the audit log;
* **per client IP, for authentication failures**: every 401 answered to a request that carried
  a token spends one; once the bucket is empty, further requests from that address carrying an
  invalid token are answered 429 before any verification work is done. Requests without any
  token are never limited here: they cost no cryptography, and health probes must get through.
  Callers with a valid token are never held back by someone else's failures behind the same NAT.

Verifying the token here costs one dictionary lookup: the verifier memoises verified tokens, and
the route's own verification of the same token is then a memo hit too. A token that fails
verification is left for the route to reject (with its precise code) and charged on the 401.

Parameters come from ``app.state.rate_limit`` (a :class:`RateLimitConfig`) when set, else from
the ``rate_limit_*`` fields of ``app.state.settings`` when they exist, else the defaults below.
Buckets live in bounded LRU maps, so a flood of distinct addresses cannot grow memory without
limit (an evicted bucket simply starts full again).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker.errors import AuthenticationFailed
from broker.http.asgi import json_bytes, send_json
from broker.security.principal import Principal
from broker.security.tokens import TokenVerifier


@dataclass(frozen=True)
class RateLimitConfig:
    enabled: bool = True
    principal_rate: float = 5000.0  # requests per second per principal (sustained)
    principal_burst: float = 10000.0
    failure_rate: float = 2.0  # authentication failures per second per client address
    failure_burst: float = 30.0
    max_buckets: int = 100_000

    @classmethod
    def from_state(cls, state: Any) -> RateLimitConfig:
        explicit = getattr(state, "rate_limit", None)
        if isinstance(explicit, RateLimitConfig):
            return explicit
        settings = getattr(state, "settings", None)
        default = cls()
        return cls(
            enabled=bool(getattr(settings, "rate_limit_enabled", default.enabled)),
            principal_rate=float(getattr(settings, "rate_limit_principal_rps", default.principal_rate)),
            principal_burst=float(getattr(settings, "rate_limit_principal_burst", default.principal_burst)),
            failure_rate=float(getattr(settings, "rate_limit_auth_failures_rps", default.failure_rate)),
            failure_burst=float(getattr(settings, "rate_limit_auth_failures_burst", default.failure_burst)),
        )


class _Buckets:
    """``key -> (tokens, last refill)`` with lazy refill; bounded LRU."""

    def __init__(self, rate: float, burst: float, max_size: int) -> None:
        self.rate, self.burst, self.max_size = rate, burst, max_size
        self._b: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _level(self, key: str, now: float) -> float:
        entry = self._b.get(key)
        if entry is None:
            return self.burst
        tokens, last = entry
        return min(self.burst, tokens + (now - last) * self.rate)

    def has_token(self, key: str, now: float) -> bool:
        return self._level(key, now) >= 1.0

    def take(self, key: str, now: float) -> bool:
        """Spend one token; False (and nothing spent) when the bucket is empty."""
        level = self._level(key, now)
        ok = level >= 1.0
        self._b[key] = (level - 1.0 if ok else level, now)
        self._b.move_to_end(key)
        while len(self._b) > self.max_size:
            self._b.popitem(last=False)
        return ok

    def retry_after(self, key: str, now: float) -> int:
        missing = 1.0 - self._level(key, now)
        return max(1, math.ceil(missing / self.rate)) if self.rate > 0 else 60


def bearer_of(credentials: bytes | None) -> str | None:
    """The token of a ``Bearer`` credential header value (None if it is not one)."""
    scheme, _, token = bytes(credentials or b"").decode("latin-1").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def bearer_token(scope: Scope) -> str | None:
    """The request's bearer token (``Authorization`` or ``X-Tollgate-Authorization``)."""
    for name, value in scope.get("headers", ()):
        if name in (b"authorization", b"x-tollgate-authorization"):
            token = bearer_of(value)
            if token is not None:
                return token
    return None


@dataclass(frozen=True, slots=True)
class Admission:
    """The limiter's verdict on one request.

    ``retry_after`` set: answer 429 now. Otherwise serve it; ``principal`` is the verified
    principal of ``token`` when it verified, and ``charge_on_401`` the client address to
    charge one authentication failure if the answer turns out to be 401.
    """

    retry_after: int | None = None
    what: str = ""
    token: str | None = None
    principal: Principal | None = None
    charge_on_401: str | None = None


_ADMITTED = Admission()


class RateLimiter:
    """The app's two kinds of bucket, shared by every entry point that takes tokens (the HTTP
    middleware in front of the routes and of the pre-flight shortcut, the gRPC ext_authz
    server): a principal or an address has one budget across all of them."""

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self.principals = _Buckets(config.principal_rate, config.principal_burst, config.max_buckets)
        self.failures = _Buckets(config.failure_rate, config.failure_burst, config.max_buckets)
        # For /metrics: requests refused 429 by bucket, and authentication failures charged.
        self.limited = {"principal": 0, "address": 0}
        self.auth_failures = 0

    @classmethod
    def for_state(cls, state: Any) -> RateLimiter:
        """The limiter of the app whose ``state`` this is (created on first use)."""
        limiter = getattr(state, "rate_limiter", None)
        if isinstance(limiter, RateLimiter):
            return limiter
        limiter = cls(RateLimitConfig.from_state(state))
        if state is not None:
            state.rate_limiter = limiter
        return limiter

    def principal_wait(self, subject: str, now: float) -> int | None:
        """Spend one of ``subject``'s tokens; None if there was one, else seconds to wait."""
        if not self.config.enabled or self.principals.take(subject, now):
            return None
        return self.principals.retry_after(subject, now)

    def failure_wait(self, address: str, now: float) -> int | None:
        """None while ``address`` may still fail authentication, else seconds to wait."""
        if not self.config.enabled or self.failures.has_token(address, now):
            return None
        return self.failures.retry_after(address, now)

    def charge_failure(self, address: str, now: float) -> None:
        if self.config.enabled:
            self.auth_failures += 1
            self.failures.take(address, now)

    def admit(self, scope: Scope) -> Admission:
        """Spend this request's token from the right bucket (see the module docstring).

        No credential: admitted, uncharged (public endpoints and probes must stay reachable
        behind the same address, and a protected endpoint answers 401 without cryptography).
        """
        return self.admit_token(scope, bearer_token(scope))

    def admit_token(self, scope: Scope, token: str | None) -> Admission:
        """:meth:`admit` for a caller that already found the request's bearer token."""
        if not self.config.enabled or token is None:
            return _ADMITTED
        principal = _verified(scope, token)
        now = time.monotonic()
        if principal is not None:
            wait = self.principal_wait(principal.subject, now)
            if wait is not None:
                self.limited["principal"] += 1
                return Admission(wait, "this principal")
            return Admission(token=token, principal=principal)
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        wait = self.failure_wait(address, now)
        if wait is not None:
            self.limited["address"] += 1
            return Admission(wait, "authentication failures from this address")
        return Admission(token=token, charge_on_401=address)


def _verified(scope: Scope, token: str) -> Principal | None:
    verifier: TokenVerifier | None = getattr(getattr(scope.get("app"), "state", None), "token_verifier", None)
    if verifier is None:
        return None
    try:
        return verifier.verify(token)
    except AuthenticationFailed:
        return None  # the endpoint rejects it with its precise code; charged on the 401


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._limiter: RateLimiter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limiter = self._limiter
        if limiter is None:
            limiter = self._limiter = RateLimiter.for_state(getattr(scope.get("app"), "state", None))
        verdict = limiter.admit(scope)
        if verdict.retry_after is not None:
            await too_many(send, verdict.retry_after, verdict.what)
            return
        address = verdict.charge_on_401
        if address is None:
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 401:
                limiter.charge_failure(address, time.monotonic())
            await send(message)

        await self.app(scope, receive, counting_send)


async def too_many(send: Send, retry_after: int, what: str,
                   extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer 429 (``extra``: further response headers)."""
    body = {"error": {"code": "RATE_LIMITED", "message": f"too many requests for {what}; retry later",
                      "details": {"retry_after_s": retry_after}}}
    await send_json(send, 429, json_bytes(body), [(b"retry-after", str(retry_after).encode()), *(extra or ())])
