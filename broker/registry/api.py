"""REST API for the registry: ``/v1/registry/...`` (reads for staff roles, writes for officers).

Every response that depends on a revision carries it as the ETag (``"<number>"``); a GET with a
matching ``If-None-Match`` is answered 304. Writes take ``If-Match: "<number>"`` as a precondition
(412 if the registry moved) and produce one revision authored by the token's subject, with the
reason from ``X-Tollgate-Reason`` (or ``?message=``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi import Path as FastPath
from fastapi.responses import JSONResponse
from pydantic import BaseModel, create_model

from broker.errors import BadRequest
from broker.registry.service import RegistryService
from broker.security.deps import require_roles
from broker.security.principal import Principal
from broker.storage.interface import RevisionInfo
from registry.canonical import entity_key
from registry.model import KIND_COLLECTIONS, KINDS

READ_ROLES = ("officer", "admin", "approver", "auditor")
WRITE_ROLES = ("officer", "admin")
MAX_LIMIT = 500
# Integers reach SQL as 64-bit INTEGER/BIGINT; anything larger made the driver raise (500).
MAX_SQL_INT = 2**63 - 1

# Built once so tests and the app can override them by identity.
require_reader = require_roles(*READ_ROLES)
require_writer = require_roles(*WRITE_ROLES)

Reader = Annotated[Principal, Depends(require_reader)]
Writer = Annotated[Principal, Depends(require_writer)]
RevisionParam = Annotated[
    int | None, Query(ge=0, le=MAX_SQL_INT, description="registry revision to read (default: the current head)")
]
IfMatch = Annotated[
    str | None, Header(description='revision the change is based on, e.g. "42"; 412 if stale')
]
IfNoneMatch = Annotated[str | None, Header()]
Reason = Annotated[str | None, Header(alias="X-Tollgate-Reason", max_length=2000)]
MessageParam = Annotated[str | None, Query(max_length=2000, description="why (or X-Tollgate-Reason)")]

router = APIRouter(prefix="/v1/registry", tags=["registry"])


class RevisionOut(BaseModel):
    number: int
    hash: str
    parent: int | None
    author: str
    created_at: datetime
    message: str
    counts: dict[str, int]
    changes: dict[str, int]
    catalog_hash: str | None = None


class RevisionPage(BaseModel):
    items: list[RevisionOut]
    total: int
    revision: int


def _revision_body(info: RevisionInfo) -> dict[str, Any]:
    return RevisionOut(
        number=info.number,
        hash=info.hash,
        parent=info.parent,
        author=info.author,
        created_at=info.created_at,
        message=info.message,
        counts=dict(info.counts),
        changes=dict(info.changes),
        catalog_hash=info.catalog_hash,
    ).model_dump(mode="json")


def service_of(request: Request) -> RegistryService:
    svc: RegistryService = request.app.state.registry_service
    return svc


def etag(revision: int) -> str:
    return f'"{revision}"'


def parse_revision_tag(value: str) -> int:
    """``"42"``, ``W/"42"`` or ``42`` -> 42 (400 for anything else)."""
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise BadRequest(f"If-Match must be a registry revision ETag such as '\"42\"', not {value!r}")
    return int(tag)


def _not_modified(if_none_match: str | None, revision: int) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag(revision) for t in tags)


def _json(body: Any, revision: int, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"ETag": etag(revision)})


def _resolve(svc: RegistryService, revision: int | None) -> int:
    if revision is not None:
        if revision:
            svc.revision(revision)  # 404 for an unknown revision (0 is the empty registry)
        return revision
    head = svc.head()
    return head.number if head else 0


def _write_response(info: RevisionInfo, item: BaseModel | None, status: int = 200) -> JSONResponse:
    body = {"revision": _revision_body(info), "item": item.model_dump(mode="json") if item else None}
    return _json(body, info.number, status)


def _message(reason: str | None, message: str | None, default: str) -> str:
    return reason or message or default


def _add_collection(collection: str, kind: str, cls: type[BaseModel]) -> None:
    label = kind.capitalize()
    page_model = create_model(f"{cls.__name__}Page", items=(list[cls], ...), total=(int, ...),  # type: ignore[valid-type]
                              revision=(int, ...), offset=(int, ...), limit=(int, ...))
    write_model = create_model(f"{cls.__name__}Write", revision=(RevisionOut, ...), item=(cast(Any, cls | None), ...))
    base = f"/{collection}"
    item = f"/{collection}/{{key:path}}"
    responses: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified (ETag matched)"}}

    def list_items(
        request: Request,
        *,
        _principal: Reader,
        revision: RevisionParam = None,
        offset: Annotated[int, Query(ge=0, le=MAX_SQL_INT)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        q: Annotated[str | None, Query(max_length=200, description="substring of id or name")] = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        svc = service_of(request)
        number = _resolve(svc, revision)
        if _not_modified(if_none_match, number):
            return Response(status_code=304, headers={"ETag": etag(number)})
        page = svc.list(kind, number, offset, limit, q)
        body = {"items": [e.model_dump(mode="json") for e in page.items], "total": page.total,
                "revision": page.revision, "offset": offset, "limit": limit}
        return _json(body, page.revision)

    def get_item(
        request: Request, key: str, *, _principal: Reader, revision: RevisionParam = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        svc = service_of(request)
        number = _resolve(svc, revision)
        if _not_modified(if_none_match, number):
            return Response(status_code=304, headers={"ETag": etag(number)})
        return _json(svc.get(kind, key, number).model_dump(mode="json"), number)

    def create_item(
        request: Request, body: Any, *, principal: Writer, if_match: IfMatch = None,
        reason: Reason = None, message: MessageParam = None,
    ) -> Response:
        svc = service_of(request)
        expected = parse_revision_tag(if_match) if if_match else None
        text = _message(reason, message, f"create {kind} {entity_key(body)}")
        info = svc.create(body, principal.subject, text, expected)
        return _write_response(info, body, 201)

    def update_item(
        request: Request, key: str, body: Any, *, principal: Writer, if_match: IfMatch = None,
        reason: Reason = None, message: MessageParam = None,
    ) -> Response:
        svc = service_of(request)
        expected = parse_revision_tag(if_match) if if_match else None
        info = svc.update(key, body, principal.subject, _message(reason, message, f"update {kind} {key}"), expected)
        return _write_response(info, body)

    def delete_item(
        request: Request, key: str, *, principal: Writer, if_match: IfMatch = None,
        reason: Reason = None, message: MessageParam = None,
    ) -> Response:
        svc = service_of(request)
        expected = parse_revision_tag(if_match) if if_match else None
        info = svc.delete(kind, key, principal.subject, _message(reason, message, f"delete {kind} {key}"), expected)
        return _write_response(info, None)

    # FastAPI reads the body's type from the annotation; it is only known here, at runtime.
    create_item.__annotations__["body"] = cls
    update_item.__annotations__["body"] = cls

    routes: list[tuple[str, str, Callable[..., Response], str, int, type[BaseModel]]] = [
        ("GET", base, list_items, f"List or search {collection}", 200, page_model),
        ("GET", item, get_item, f"Get one {kind}", 200, cls),
        ("POST", base, create_item, f"Create a {kind} (new revision)", 201, write_model),
        ("PUT", item, update_item, f"Replace a {kind} (new revision)", 200, write_model),
        ("DELETE", item, delete_item, f"Delete a {kind} (new revision)", 200, write_model),
    ]
    for method, path, endpoint, summary, status, model in routes:
        router.add_api_route(
            path, endpoint, methods=[method], summary=summary, status_code=status,
            response_model=model, responses=responses if method == "GET" else None,
            name=f"{method.lower()}_{kind}{'' if path == base else '_item'}", tags=[f"registry: {label}"],
        )


for _kind, _collection in KIND_COLLECTIONS.items():
    _add_collection(_collection, _kind, KINDS[_kind])


@router.get("/revisions", summary="Revision history, newest first", response_model=RevisionPage)
def list_revisions(
    request: Request,
    _principal: Reader,
    offset: Annotated[int, Query(ge=0, le=MAX_SQL_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Response:
    page = service_of(request).history(offset, limit)
    body = {"items": [_revision_body(r) for r in page.items], "total": page.total, "revision": page.revision}
    return _json(body, page.revision)


@router.get("/revisions/{number}", summary="One revision", response_model=RevisionOut)
def get_revision(
    request: Request, number: Annotated[int, FastPath(ge=0, le=MAX_SQL_INT)], _principal: Reader
) -> Response:
    return _json(_revision_body(service_of(request).revision(number)), number)


@router.get("/diff", summary="Field-level differences between two revisions")
def diff_revisions(
    request: Request,
    _principal: Reader,
    from_: Annotated[int, Query(alias="from", ge=0, le=MAX_SQL_INT)],
    to: Annotated[int, Query(ge=0, le=MAX_SQL_INT)],
) -> dict[str, Any]:
    svc = service_of(request)
    for n in (from_, to):
        _resolve(svc, n)
    return {"from": from_, "to": to, "kinds": svc.diff(from_, to).as_dict()}
