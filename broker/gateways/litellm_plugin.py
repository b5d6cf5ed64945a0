"""An importable LiteLLM plugin that asks Tollgate before LiteLLM calls a model.

Register it in the LiteLLM proxy config::

    guardrails:
      - guardrail_name: tollgate
        litellm_params:
          guardrail: broker.gateways.litellm_plugin.TollgateGuardrail
          mode: pre_call
          default_on: true
The guardrail is a LiteLLM ``CustomLogger``, so LiteLLM's router also calls its
``async_filter_deployments``. Two hooks, because LiteLLM knows the serving region only after routing:

* ``async_pre_call_hook``: when the request names its region (``metadata.tollgate_region``),
  deny before routing (HTTP 403 with reason codes);
* ``async_filter_deployments``: drop every deployment whose region Tollgate does not allow for
  this tenant and model. A deployment's region is ``model_info.tollgate_region`` or is derived from
  ``aws_region_name`` / ``vertex_location``. Any broker failure drops *all* deployments: the
  request fails rather than reaching a model nobody cleared.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import HTTPException
from litellm.integrations.custom_guardrail import CustomGuardrail

TENANT_KEYS = ("tollgate_tenant", "user_api_key_team_id", "user_api_key_org_id")


def deployment_region(deployment: Mapping[str, Any]) -> str | None:
    """The Tollgate region id (``aws:eu-central-1``) a LiteLLM deployment serves from."""
    info = deployment.get("model_info") or {}
    if isinstance(info.get("tollgate_region"), str):
        return str(info["tollgate_region"])
    params = deployment.get("litellm_params") or {}
    if isinstance(params.get("aws_region_name"), str):
        return f"aws:{params['aws_region_name']}"
    if isinstance(params.get("vertex_location"), str):
        return f"gcp:{params['vertex_location']}"
    return None


def request_tenant(kwargs: Mapping[str, Any]) -> str | None:
    for holder in (kwargs.get("metadata"), kwargs.get("litellm_metadata")):
        if isinstance(holder, Mapping):
            for key in TENANT_KEYS:
                if isinstance(holder.get(key), str) and holder[key]:
                    return str(holder[key])
    return None


class TollgateClient:
    """A small async client for ``/v1/preflight`` and ``/v1/preflight/batch``."""

    def __init__(
        self, api_base: str, token: str, *, timeout_s: float = 0.5, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_base.rstrip("/"),
            headers={"authorization": f"Bearer {token}"},
            timeout=timeout_s,
            transport=transport,
        )

    async def batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = await self._client.post("/v1/preflight/batch", json={"items": items})
        response.raise_for_status()
        answers = response.json().get("items")
        if not isinstance(answers, list) or len(answers) != len(items):
            raise ValueError("Tollgate batch answer does not match the request")
        # An item that is not a decision (403/422 in its slot) becomes an empty result: not allowed.
        return [a.get("decision") or {} if isinstance(a, dict) else {} for a in answers]

    async def aclose(self) -> None:
        await self._client.aclose()


def _allowed(result: Mapping[str, Any]) -> bool:
    # Only an explicit boolean true allows; an error item or a missing field does not.
    return result.get("allow") is True


class TollgateGuardrail(CustomGuardrail):  # type: ignore[misc]
    def __init__(
        self,
        api_base: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> None:
        base = api_base or os.environ.get("TOLLGATE_URL", "http://127.0.0.1:8750")
        token = api_key or os.environ.get("TOLLGATE_TOKEN", "")
        self.client = TollgateClient(base, token, timeout_s=timeout_s, transport=transport)
        kwargs.setdefault("guardrail_name", "tollgate")
        super().__init__(**kwargs)

    async def _ask(self, items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        try:
            return await self.client.batch(items)
        except (httpx.HTTPError, ValueError):
            return None

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        metadata = data.get("metadata") or {}
        region = metadata.get("tollgate_region") if isinstance(metadata, Mapping) else None
        if not isinstance(region, str):
            return data  # region unknown before routing: async_filter_deployments decides
        tenant = request_tenant(data) or getattr(user_api_key_dict, "team_id", None)
        item = {"tenant": tenant or "", "region": region, "model": str(data.get("model", ""))}
        results = await self._ask([item])
        if results is None:
            raise HTTPException(status_code=503, detail={"error": "Tollgate unavailable; request refused"})
        if not _allowed(results[0]):
            raise HTTPException(
                status_code=403,
                detail={
                    "error": "denied by Tollgate policy",
                    "decision_id": results[0].get("decision_id"),
                    "reasons": [r.get("code") for r in results[0].get("reasons", [])],
                },
            )
        return data

    async def async_filter_deployments(
        self,
        model: str,
        healthy_deployments: list[dict[str, Any]],
        messages: Any,
        request_kwargs: dict[str, Any] | None = None,
        parent_otel_span: Any = None,
    ) -> list[dict[str, Any]]:
        tenant = request_tenant(request_kwargs or {})
        if tenant is None:
            return []  # no tenant, no decision, no deployment
        items, kept_index = [], []
        for i, dep in enumerate(healthy_deployments):
            region = deployment_region(dep)
            if region is None:
                continue  # a deployment we cannot place is never routed to
            dep_model = (dep.get("model_info") or {}).get("tollgate_model") or model
            items.append({"tenant": tenant, "region": region, "model": dep_model})
            kept_index.append(i)
        if not items:
            return []
        results = await self._ask(items)
        if results is None:
            return []
        return [healthy_deployments[i] for i, r in zip(kept_index, results, strict=True) if _allowed(r)]
