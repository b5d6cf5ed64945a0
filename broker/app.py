"""The FastAPI application: thin routers over services built by :mod:`broker.runtime`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from broker import __version__
from broker.config import Settings
from broker.decisions.fastpath import PATH as PREFLIGHT_PATH
from broker.decisions.fastpath import PreflightFastPath
from broker.http import health, metrics
from broker.http.errors import install_error_handlers
from broker.http.middleware import RequestContextMiddleware
from broker.http.ratelimit import RateLimitMiddleware
from broker.logging import configure_logging
from broker.runtime import Runtime


class TollgateApp(FastAPI):
    """FastAPI, except that ``POST /v1/preflight`` (the gateways' hot path) goes straight to
    :class:`PreflightFastPath`, which does the request-context and rate-limit middleware's work
    itself, skipping the framework's error, telemetry and body-limit wrappers (the handler
    answers its own errors and caps the body)."""

    preflight: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.preflight is not None and scope["type"] == "http" and scope["path"] == PREFLIGHT_PATH
                and scope["method"] == "POST"):
            scope["app"] = self
            await self.preflight(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def _unreachable(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError(f"the pre-flight handler passed on {scope.get('method')} {scope.get('path')}")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start(app.state)
        try:
            yield
        finally:
            await runtime.stop()

    app = TollgateApp(
        title="Tollgate",
        version=__version__,
        description=(
            "Compliance and geo-access policy broker for AI model routing: pre-flight decisions "
            "for gateways, policy lifecycle for compliance officers, a signed audit log for auditors."
        ),
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry hook probes the global providers on every request
        # (~100 µs here); Tollgate's own structured logs and audit log are its telemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    # POST /v1/preflight: the same request context, body cap and rate limits, in one handler.
    app.preflight = fast = PreflightFastPath(_unreachable, max_body_bytes=settings.max_body_bytes)
    app.state.preflight_stats = fast.stats
    app.include_router(health.router)
    app.include_router(metrics.router)
    for router in runtime.routers():
        app.include_router(router)
    return app
