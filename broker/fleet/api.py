"""HTTP endpoints for OPA agents (bundles, decision logs, status) and the fleet view.

OPA talks to these with the bearer token of its ``services.<name>.credentials.bearer`` config,
which must carry the ``gateway`` role. Paths are those OPA uses by default when the service URL
is the broker's base URL: ``GET /bundles/<name>``, ``POST /logs``, ``POST /status[/<partition>]``.

App state this module reads (set at start-up):

* ``app.state.fleet``: :class:`~broker.fleet.service.FleetService`
* ``app.state.bundle_source``: zero-arg callable returning the active ``PolicyBundle``
* ``app.state.bundle_notifier``: :class:`~broker.fleet.notify.ActivationNotifier` (optional;
  without it long polls notice an activation within ``long_poll_recheck_s``)
* ``app.state.audit_log``: ``append_many``/``append_async``/``append`` that return after fsync
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse

from broker.errors import NotFound, Unavailable
from broker.fleet.bundle import bundle_revision
from broker.fleet.errors import StatusInvalid
from broker.fleet.logs import inflate, parse_events
from broker.fleet.notify import ActivationNotifier, BundleSource
from broker.fleet.server import GZIP_CONTENT_TYPE, LONG_POLL_CONTENT_TYPE, prefer_wait
from broker.fleet.service import FleetService
from broker.fleet.status import agent_id, fleet_view, strip_heavy
from broker.security.deps import require_roles
from broker.security.principal import Principal

router = APIRouter(tags=["opa-fleet"])

Gateway = Annotated[Principal, Depends(require_roles("gateway"))]
Reader = Annotated[Principal, Depends(require_roles("officer", "admin", "auditor"))]
_MAX_STATUS_BYTES = 1024 * 1024


def _state(request: Request, name: str) -> Any:
    value = getattr(request.app.state, name, None)
    if value is None:
        raise Unavailable(f"the OPA fleet endpoints are not configured ({name} missing)", code="FLEET_NOT_CONFIGURED")
    return value


def _fleet(request: Request) -> FleetService:
    fleet: FleetService = _state(request, "fleet")
    return fleet


@router.get(
    "/bundles/{name:path}",
    summary="OPA Bundle Service API: the signed bundle of the active policy set",
    responses={200: {"content": {GZIP_CONTENT_TYPE: {}, LONG_POLL_CONTENT_TYPE: {}}}, 304: {}},
)
async def get_bundle(
    name: str,
    request: Request,
    principal: Gateway,
    if_none_match: Annotated[str | None, Header()] = None,
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    fleet = _fleet(request)
    if name not in (fleet.config.bundle_name, fleet.config.bundle_name + ".tar.gz"):
        raise NotFound(f"no bundle named {name!r}; this broker serves {fleet.config.bundle_name!r}",
                       code="BUNDLE_NOT_FOUND")
    source: BundleSource = _state(request, "bundle_source")
    notifier: ActivationNotifier | None = getattr(request.app.state, "bundle_notifier", None)
    reply = await fleet.bundles.serve(
        source, if_none_match=if_none_match, wait_s=prefer_wait(prefer),
        notifier=notifier, is_disconnected=request.is_disconnected,
    )
    headers = {"ETag": reply.etag, "Cache-Control": "no-cache", "X-Tollgate-Bundle-Revision": reply.revision}
    if reply.status == 304:
        return Response(status_code=304, headers=headers)
    # OPA enables long polling only after a 200 with exactly this content type (download.go).
    media = LONG_POLL_CONTENT_TYPE if prefer is not None else GZIP_CONTENT_TYPE
    return Response(reply.content, media_type=media, headers=headers)


@router.post("/logs", summary="OPA decision-log upload (gzip JSON array); 2xx only once durably audited")
async def post_logs(
    request: Request,
    principal: Gateway,
    content_encoding: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    fleet = _fleet(request)
    audit_log = _state(request, "audit_log")
    raw = inflate(await request.body(), content_encoding, fleet.config.logs_max_decompressed_bytes)
    events = parse_events(raw, fleet.config.logs_max_events)
    records = fleet.logs.records(events, principal.identity(), principal.may_act_for)
    result = await fleet.logs.ingest(records, audit_log)
    return JSONResponse(
        {"received": result.received, "appended": result.appended, "duplicates": result.duplicates}
    )


async def _status(request: Request, principal: Principal, content_encoding: str | None) -> JSONResponse:
    fleet = _fleet(request)
    raw = inflate(await request.body(), content_encoding, _MAX_STATUS_BYTES)
    try:
        report = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StatusInvalid(f"status report is not JSON: {exc}") from exc
    agent = agent_id(report)
    await asyncio.to_thread(fleet.store.put_status, agent, fleet.clock(), principal.subject, strip_heavy(report))
    return JSONResponse({"agent": agent})


@router.post("/status", summary="OPA Status API report")
async def post_status(
    request: Request, principal: Gateway, content_encoding: Annotated[str | None, Header()] = None
) -> JSONResponse:
    return await _status(request, principal, content_encoding)


@router.post("/status/{partition:path}", summary="OPA Status API report (partitioned)")
async def post_status_partition(
    partition: str, request: Request, principal: Gateway,
    content_encoding: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    return await _status(request, principal, content_encoding)


@router.get("/v1/fleet/agents", summary="Which OPA agent runs which revision, and which are stale")
async def get_agents(request: Request, principal: Reader) -> dict[str, Any]:
    fleet = _fleet(request)
    source: BundleSource = _state(request, "bundle_source")
    active = source()
    rows = await asyncio.to_thread(fleet.store.agents)
    return fleet_view(
        rows,
        bundle_name=fleet.config.bundle_name,
        active_revision=bundle_revision(active.policy_revision, active.registry_revision),
        now=fleet.clock(),
        stale_after_s=fleet.config.agent_stale_after_s,
    )
