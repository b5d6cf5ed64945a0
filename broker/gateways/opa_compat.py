"""The OPA Data API shape, so Kong's and APISIX's OPA plugins can call Tollgate directly.

``POST /v1/data/tollgate/routing/decision`` with ``{"input": …}`` answers
``{"result": {…}, "decision_id": …}`` like OPA does. The input is either Tollgate's own
pre-flight fields (``tenant``, ``region``, ``model``, ``subject``, ``at``) or the request
description Kong's plugin sends (``input.request.http.headers`` with the ``x-tollgate-*``
headers, the model optionally from the parsed JSON body). The result carries both the decision
document and the fields Kong reads (``allow``, ``status``, ``headers``, ``message``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from broker.decisions.model import PreflightQuery
from broker.decisions.schemas import PreflightIn
from broker.decisions.service import DecisionService
from broker.decisions.views import decision_json
from broker.errors import ValidationFailed
from broker.gateways.auth import gateway_json
from broker.gateways.extract import HeaderNames, query_from_headers, reason_codes

router = APIRouter(tags=["gateways"])
PATH = "/v1/data/tollgate/routing/decision"


def _query(input_doc: Mapping[str, Any], names: HeaderNames) -> PreflightQuery:
    if "tenant" in input_doc or "model" in input_doc:
        try:
            return PreflightIn.model_validate(dict(input_doc)).to_query()
        except ValidationError as exc:
            first = exc.errors()[0]
            field = "input." + ".".join(str(p) for p in first["loc"])
            raise ValidationFailed(f"{field}: {first['msg']}", details={"field": field}) from None
    http = input_doc.get("request", {}).get("http", {}) if isinstance(input_doc.get("request"), dict) else {}
    if not isinstance(http, dict) or not isinstance(http.get("headers"), dict):
        raise ValidationFailed(
            "input must carry tenant/region/model, or request.http.headers (Kong's OPA plugin input)",
            details={"field": "input"},
        )
    headers = {str(k).lower(): v if isinstance(v, str) else ",".join(map(str, v)) for k, v in http["headers"].items()}
    body = http.get("parsed_body") or http.get("body")
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(model, str) and names.model not in headers:
        headers[names.model] = model
    return query_from_headers(headers, names)


@router.post(PATH, summary="OPA Data API shape (Kong / APISIX OPA plugins)")
async def opa_decision(request: Request) -> JSONResponse:
    state = request.app.state
    principal, doc = await gateway_json(request)
    if not isinstance(doc, dict) or not isinstance(doc.get("input"), dict):
        raise ValidationFailed("body must be {\"input\": {...}}", details={"field": "input"})
    names: HeaderNames = getattr(state, "gateway_headers", HeaderNames())
    service: DecisionService = state.decision_service
    decision = await service.decide_async(_query(doc["input"], names), principal)
    result: dict[str, Any] = decision_json(decision)
    allow = result["allow"] is True
    result["status"] = 200 if allow else 403
    result["headers"] = {
        "x-tollgate-decision-id": decision.decision_id,
        "x-tollgate-reasons": reason_codes(result["reasons"]),
    }
    result["message"] = {"allow": allow, "reasons": result["reasons"], "decision_id": decision.decision_id}
    return JSONResponse({"result": result, "decision_id": decision.decision_id})
