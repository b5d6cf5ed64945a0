"""LiteLLM's Generic Guardrail HTTP API (``guardrail: generic_guardrail_api``).

LiteLLM posts to ``<api_base>/beta/litellm_basic_guardrail_api``. Its request carries no serving
region, so the region comes from ``additional_provider_specific_params.serving_region`` (static
guardrail config or per-request ``extra_body``) or the ``x-tollgate-region`` request header; the
tenant from ``additional_provider_specific_params.tenant``, the ``x-tollgate-tenant`` header, or
the key's team id. The answer ALWAYS names an ``action``: LiteLLM reads a missing one as "NONE",
i.e. allow. Broker failures are 503, which LiteLLM's ``unreachable_fallback: fail_closed`` blocks.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from broker.decisions.model import PreflightQuery
from broker.decisions.service import DecisionService
from broker.errors import BadRequest, TollgateError
from broker.gateways.auth import gateway_json
from broker.gateways.extract import HeaderNames, query_from_headers

router = APIRouter(tags=["gateways"])
PATH = "/beta/litellm_basic_guardrail_api"


def _blocked(reason: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"action": "BLOCKED", "blocked_reason": reason, **extra})


def _query(doc: dict[str, Any], names: HeaderNames) -> PreflightQuery:
    params = doc.get("additional_provider_specific_params") or {}
    req_headers = {str(k).lower(): str(v) for k, v in (doc.get("request_headers") or {}).items()}
    request_data = doc.get("request_data") or {}
    merged = dict(req_headers)
    tenant = params.get("tenant") or req_headers.get(names.tenant) or request_data.get("user_api_key_team_id")
    region = params.get("serving_region") or req_headers.get(names.region)
    model = params.get("model") or doc.get("model") or req_headers.get(names.model)
    for key, value in ((names.tenant, tenant), (names.region, region), (names.model, model)):
        if isinstance(value, str):
            merged[key] = value
    return query_from_headers(merged, names)


@router.post(PATH, summary="LiteLLM Generic Guardrail API")
async def litellm_guardrail(request: Request) -> JSONResponse:
    state = request.app.state
    principal, doc = await gateway_json(request)
    if not isinstance(doc, dict):
        raise BadRequest("request body must be a JSON object", code="BAD_JSON")
    if doc.get("input_type") == "response":
        # Pre-flight already gated the request; responses carry nothing this broker decides on.
        return JSONResponse({"action": "NONE"})
    names: HeaderNames = getattr(state, "gateway_headers", HeaderNames())
    try:
        query = _query(doc, names)
    except TollgateError as exc:
        if exc.status >= 500:
            raise
        return _blocked(f"Tollgate could not build a pre-flight question: {exc.message}", code=exc.code)
    service: DecisionService = state.decision_service
    decision = await service.decide_async(query, principal)
    if decision.outcome.allow is True:
        return JSONResponse({"action": "NONE", "decision_id": decision.decision_id})
    reasons = "; ".join(f"{r.get('code')}: {r.get('message')}" for r in decision.outcome.reasons)
    return _blocked(
        f"Tollgate denied model {query.model!r} in {query.target!r} for tenant {query.tenant!r}: {reasons}",
        decision_id=decision.decision_id,
        reason_codes=decision.outcome.reason_codes,
    )
