"""Liveness and readiness.

``/healthz``: the process is up. ``/readyz``: every registered readiness check passes (store
reachable, catalog loaded, engine loaded, audit log writable); 503 with the failing checks
otherwise, so load balancers stop sending pre-flights to a broker that could only refuse them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])

ReadinessCheck = Callable[[], tuple[bool, str]]


@router.get("/healthz", summary="Process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Store reachable, catalog and policy loaded, audit log writable")
def readyz(request: Request) -> JSONResponse:
    checks: dict[str, ReadinessCheck] = getattr(request.app.state, "readiness_checks", {})
    results: dict[str, Any] = {}
    ready = bool(checks)
    for name, check in checks.items():
        try:
            ok, detail = check()
        except Exception as exc:  # a crashing check means not ready, never ready
            ok, detail = False, f"check crashed: {exc!r}"
        results[name] = {"ok": ok, "detail": detail}
        ready = ready and ok
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "checks": results}
    if not ready:
        body["error"] = {"code": "NOT_READY", "message": "one or more readiness checks failed"}
    return JSONResponse(body, status_code=200 if ready else 503)
