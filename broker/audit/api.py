"""HTTP API for auditors (role ``auditor`` or ``admin``) under ``/v1/audit``.

Tiles and entry bundles are served as the static tlog-tiles objects they are (full tiles are
immutable and cached forever). Tenant-scoped principals may only search and fetch receipts
for their tenants; raw tiles, entries and exports span all tenants, so they are refused.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from broker.audit.export import check_export_name, export_tar, remove_tree
from broker.audit.keys import KEY_HISTORY_PATH
from broker.audit.log import AuditLog
from broker.audit.process import AuditProcess
from broker.audit.records import admin_record, parse_time
from broker.audit.rotation import MAX_OVERLAP_S, rotate_log_key
from broker.audit.tiles import TILE_WIDTH, parse_tile_path
from broker.errors import AuditUnavailable, BadRequest, Forbidden, NotFound, TollgateError
from broker.security.deps import require_roles
from broker.security.principal import Principal

router = APIRouter(prefix="/v1/audit", tags=["audit"])
require_auditor = require_roles("auditor", "admin")
require_admin = require_roles("admin")
_TEXT = "text/plain; charset=utf-8"
_IMMUTABLE = "public, max-age=31536000, immutable"


RunningLog = AuditLog | AuditProcess  # in the broker process, or in its worker process


def get_audit_log(request: Request) -> RunningLog:
    """The running log, set by the app at start-up as ``app.state.audit_log``."""
    log = getattr(request.app.state, "audit_log", None)
    if not isinstance(log, AuditLog | AuditProcess):
        raise AuditUnavailable("the audit log is not configured")
    return log


Auditor = Annotated[Principal, Depends(require_auditor)]
Log = Annotated[RunningLog, Depends(get_audit_log)]


def _all_tenants(principal: Principal) -> None:
    if principal.tenants is not None:
        raise Forbidden("tenant-scoped principals cannot read the whole log",
                        code="AUDIT_TENANT_SCOPED")


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get("/checkpoint", summary="Latest signed checkpoint (C2SP tlog-checkpoint)")
def checkpoint(_: Auditor, log: Log) -> Response:
    return Response(log.checkpoint_note(), media_type=_TEXT,
                    headers={"Cache-Control": "no-cache"})


@router.get("/keys", summary="Signed history of log keys with validity periods")
def keys(_: Auditor, log: Log) -> Response:
    return Response(log.storage.get(KEY_HISTORY_PATH), media_type=_TEXT,
                    headers={"Cache-Control": "no-cache"})


class RotateKey(BaseModel):
    overlap_s: float = Field(default=86400.0, ge=0, le=MAX_OVERLAP_S,
                             description="how long the old key keeps co-signing checkpoints")


@router.post("/keys/rotate", summary="Rotate the log signing key (admin)")
def rotate_key(principal: Annotated[Principal, Depends(require_admin)], log: Log, request: Request,
               body: RotateKey | None = None) -> dict[str, Any]:
    """A new key signs from now on; the old one co-signs for ``overlap_s``. The new key file
    replaces the old one in the broker's keys directory (replicas sharing a log need it too)."""
    _all_tenants(principal)
    overlap = (body or RotateKey()).overlap_s
    return rotate_log_key(log, request.app.state.settings.keys_dir, overlap_s=overlap,
                          actor=principal.subject)


@router.get("/tile/{path:path}", summary="tlog-tiles hash tiles and entry bundles")
def tile(path: str, principal: Auditor, log: Log) -> Response:
    _all_tenants(principal)
    full = f"tile/{path}"
    try:
        _, _, width = parse_tile_path(full)
    except ValueError as exc:
        raise NotFound(f"no such tile {full}") from exc
    cache = _IMMUTABLE if width == TILE_WIDTH else "public, max-age=5"
    return Response(log.storage.get(full), media_type="application/octet-stream",
                    headers={"Cache-Control": cache})


def _leaf(log: RunningLog, principal: Principal, index: int | None, decision_id: str | None,
          ) -> int:
    if (index is None) == (decision_id is None):
        raise BadRequest("give exactly one of index or decision_id")
    leaf = index if index is not None else log.find_decision(str(decision_id))
    if principal.tenants is not None:
        tenant = json.loads(log.entry(leaf)).get("tenant")
        if tenant not in principal.tenants:
            raise NotFound("no such decision for your tenants")
    return leaf


@router.get("/proof/inclusion", summary="Inclusion proof for a leaf or decision id")
def inclusion(principal: Auditor, log: Log, index: Annotated[int | None, Query(ge=0)] = None,
              decision_id: str | None = None,
              size: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
    proof = log.inclusion_proof(_leaf(log, principal, index, decision_id), size)
    return {**proof, "proof": _b64(proof["proof"])}


@router.get("/proof/consistency", summary="Consistency proof between two tree sizes")
def consistency(_: Auditor, log: Log, old: Annotated[int, Query(ge=1)],
                size: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
    proof = log.consistency_proof(old, size)
    return {**proof, "proof": _b64(proof["proof"])}


@router.get("/search", summary="Search by decision id, tenant, model and time range")
def search(principal: Auditor, log: Log, *, decision_id: str | None = None,
           tenant: str | None = None, model: str | None = None, since: str | None = None,
           until: str | None = None, after: Annotated[int, Query(ge=-1, le=2**63 - 1)] = -1,
           limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    try:
        t0 = parse_time(since, "since").timestamp() if since else None
        t1 = parse_time(until, "until").timestamp() if until else None
    except TollgateError as exc:
        raise BadRequest(exc.message) from exc
    if tenant is not None and principal.tenants is not None and tenant not in principal.tenants:
        raise Forbidden(f"not allowed to search tenant {tenant}")
    items = log.search(decision_id=decision_id, tenant=tenant, model=model, since=t0,
                       until=t1, tenants=principal.tenants, after=after, limit=limit)
    return {"items": items, "next_after": items[-1]["index"] if len(items) == limit else None}


@router.get("/receipt", summary="C2SP tlog-proof receipt for one decision")
def receipt(principal: Auditor, log: Log, index: Annotated[int | None, Query(ge=0)] = None,
            decision_id: str | None = None) -> Response:
    data = log.receipt(_leaf(log, principal, index, decision_id))
    return Response(data, media_type=_TEXT)


_ORIGIN_SAFE = re.compile(r"[^A-Za-z0-9.-]+")


@router.get("/export", summary="Offline-verifiable export of a range as .tar.gz")
def export(principal: Auditor, log: Log,
           start: Annotated[int, Query(alias="from", ge=0)] = 0,
           end: Annotated[int | None, Query(alias="to", ge=0)] = None) -> FileResponse:
    _all_tenants(principal)
    size = log.checkpoint().size
    name = check_export_name(
        f"audit-{_ORIGIN_SAFE.sub('_', log.origin)}-{start}-{end if end is not None else size}")
    tmp = Path(tempfile.mkdtemp(prefix="audit-api-export-"))
    try:
        export_tar(log, tmp / f"{name}.tar.gz", start, end)
        log.append(admin_record(action="log.export", actor=principal.subject, subject=name,
                                details={"from": start, "to": end, "tree_size": size}))
    except BaseException:
        remove_tree(tmp)
        raise
    return FileResponse(tmp / f"{name}.tar.gz", media_type="application/gzip",
                        filename=f"{name}.tar.gz", background=BackgroundTask(remove_tree, tmp))
