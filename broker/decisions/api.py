"""HTTP routes of the pre-flight API. Thin: parse, call :class:`DecisionService`, render.

Roles: ``gateway`` (the intended caller), plus ``officer`` and ``admin`` so compliance staff can
try a decision from the console or curl; ``auditor`` and ``approver`` may not (they must not
create decision records). A token with a ``tenants`` claim is honoured for every role: asking
about another tenant is 403 TENANT_FORBIDDEN.

Endpoints are ``async`` and evaluate inline on the event-loop thread: an evaluation is tens of
microseconds, far less than a thread hand-off, and regorus engines are per thread, so one
serving thread keeps one hot engine. Bulk work (batch, routes, changes) yields to the loop every
64 evaluations so it cannot starve single pre-flights.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from broker.decisions.model import Decision
from broker.decisions.schemas import (
    BatchIn,
    BatchOut,
    ChangesOut,
    PreflightIn,
    PreflightOut,
    RoutesOut,
    TargetId,
    TenantId,
    Timestamp,
)
from broker.decisions.service import DecisionService
from broker.decisions.timefmt import parse_rfc3339_ns
from broker.decisions.views import changes_json, decision_json, routes_json
from broker.errors import Forbidden, ValidationFailed
from broker.logging import bind_log
from broker.security.deps import authenticate, require_roles
from broker.security.principal import Principal

router = APIRouter(tags=["pre-flight"])
_bearer = HTTPBearer(auto_error=False, description="JWT with role gateway (or officer/admin)")
_check_roles = require_roles("gateway", "officer", "admin")


async def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The security feature's checks, called from an async dependency on purpose.

    FastAPI runs *sync* dependencies in a worker thread; the two hops cost ~1.5 ms a request
    under 32-way load (measured), more than everything else on the pre-flight path, while
    verifying a token is CPU-only work of tens of microseconds (a JWKS *file* is re-read at most
    once a minute; a JWKS URL refresh would block the loop, see the closing note).
    """
    principal: Principal = _check_roles(authenticate(request, credentials))
    return principal


Caller = Annotated[Principal, Depends(_caller)]


def _service(request: Request) -> DecisionService:
    service: DecisionService = request.app.state.decision_service
    return service


def _json(body: Any) -> Response:
    # json.dumps directly: the bodies are plain JSON values already (see views.py).
    data = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(data.encode(), media_type="application/json")


def _query_time(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_rfc3339_ns(value)
    except ValueError as exc:
        raise _invalid(field, str(exc)) from None


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {message}",
        details={"errors": [{"field": field, "message": message, "type": "value_error"}]},
    )


@router.post("/v1/preflight", response_model=PreflightOut, summary="May this tenant use this model here?")
async def preflight(body: PreflightIn, request: Request, caller: Caller) -> Response:
    bind_log(tenant=body.tenant)
    decision = await _service(request).decide_async(body.to_query(), caller)
    bind_log(decision_id=decision.decision_id)
    return _json(decision_json(decision))


def _item_error(status: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"status": status, "error": error}


@router.post(
    "/v1/preflight/batch",
    response_model=BatchOut,
    summary="Up to 1,000 pre-flights; one result per item, in order",
)
async def preflight_batch(body: BatchIn, request: Request, caller: Caller) -> Response:
    """A malformed item (422) or a tenant the token may not see (403) is reported in that item's
    slot; the others are still answered. An engine or audit failure fails the whole batch (503)."""
    results: list[dict[str, Any] | None] = [None] * len(body.items)
    valid: list[int] = []
    queries = []
    for i, raw in enumerate(body.items):
        try:
            queries.append(PreflightIn.model_validate(raw).to_query())
            valid.append(i)
        except ValidationError as exc:
            errors = [
                {"field": ".".join(["items", str(i), *map(str, e["loc"])]), "message": e["msg"],
                 "type": e["type"]}
                for e in exc.errors()
            ]
            first = errors[0]
            results[i] = _item_error(422, "VALIDATION_FAILED", f"{first['field']}: {first['message']}",
                                     {"errors": errors})
    answers = await _service(request).decide_batch_async(queries, caller)
    for i, answer in zip(valid, answers, strict=True):
        if isinstance(answer, Forbidden):
            results[i] = _item_error(answer.status, answer.code, answer.message, answer.details)
        else:
            results[i] = _decision_item(answer)
    return _json({"items": results})


def _decision_item(decision: Decision) -> dict[str, Any]:
    return {"status": 200, "decision": decision_json(decision)}


@router.get("/v1/tenants/{tenant_id}/routes", response_model=RoutesOut, summary="Routing table")
async def routes(
    request: Request,
    caller: Caller,
    tenant_id: Annotated[TenantId, Path()],
    region: Annotated[TargetId, Query(description="region or routing scope id")],
    at: Annotated[Timestamp | None, Query(description="RFC 3339; default now")] = None,
) -> Response:
    bind_log(tenant=tenant_id)
    table = await _service(request).routes_async(
        tenant_id, region, _query_time(at, "query.at"), caller
    )
    return _json(routes_json(table))


@router.get(
    "/v1/tenants/{tenant_id}/routes/changes",
    response_model=ChangesOut,
    summary="Scheduled transitions (windows opening or closing) until a time",
)
async def route_changes(
    request: Request,
    caller: Caller,
    tenant_id: Annotated[TenantId, Path()],
    until: Annotated[Timestamp, Query(description="RFC 3339; at most 10 years ahead")],
    region: Annotated[TargetId | None, Query(description="default: every deployment")] = None,
) -> Response:
    bind_log(tenant=tenant_id)
    until_ns = _query_time(until, "query.until")
    assert until_ns is not None
    changes = await _service(request).route_changes_async(tenant_id, until_ns, region, caller)
    return _json(changes_json(changes))
