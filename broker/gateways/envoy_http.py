"""Envoy ext_authz, raw-HTTP mode.

Envoy sends a copy of the original request (method, ``path_prefix`` + path, selected headers, and
the body when ``with_request_body`` is on). 200 allows and the ``x-tollgate-*`` response headers
go upstream (``allowed_upstream_headers``); any other status denies; a 5xx is an error, so
Envoy applies its own ``failure_mode_allow`` (which we recommend leaving false).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from broker.decisions.service import DecisionService
from broker.decisions.views import decision_json
from broker.gateways.auth import authenticate_gateway
from broker.gateways.extract import HeaderNames, query_from_headers, reason_codes
from broker.http.asgi import json_bytes

router = APIRouter(tags=["gateways"])
PREFIX = "/ext-authz"
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


async def _check(request: Request) -> Response:
    state = request.app.state
    headers = _headers(request)
    principal = authenticate_gateway(state.token_verifier, headers, allow_authorization=False)
    names: HeaderNames = getattr(state, "gateway_headers", HeaderNames())
    body = await request.body() if headers.get(names.model) is None else None
    query = query_from_headers(headers, names, body=body)
    service: DecisionService = state.decision_service
    decision = await service.decide_async(query, principal)
    doc: dict[str, Any] = decision_json(decision)
    out_headers = {
        "x-tollgate-decision-id": decision.decision_id,
        "x-tollgate-reasons": reason_codes(doc["reasons"]),
        "x-tollgate-policy-revision": decision.policy_revision,
        "x-tollgate-registry-revision": str(decision.registry_revision),
    }
    obligations = [o.get("code", "") if isinstance(o, dict) else str(o) for o in doc["obligations"]]
    if obligations:
        out_headers["x-tollgate-obligations"] = ",".join(obligations)
    if doc["allow"] is True:
        return Response(status_code=200, headers=out_headers)
    body_out = {
        "error": {"code": "DENIED", "message": "denied by Tollgate policy"},
        "decision_id": decision.decision_id,
        "allow": False,
        "reasons": doc["reasons"],
    }
    return Response(
        json_bytes(body_out),
        status_code=403,
        media_type="application/json",
        headers=out_headers,
    )


# One route per method: a route serving several methods gives them all one OpenAPI operationId,
# and client generators refuse a document with duplicates.
for _method in _METHODS:
    router.add_api_route(PREFIX, _check, methods=[_method], summary="Envoy ext_authz (HTTP service)",
                         operation_id=f"ext_authz_{_method.lower()}")
    router.add_api_route(PREFIX + "/{path:path}", _check, methods=[_method],
                         summary="Envoy ext_authz (HTTP service, with path)",
                         operation_id=f"ext_authz_path_{_method.lower()}")
