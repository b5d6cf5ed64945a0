"""The OPA Data API shape (Kong/APISIX) and LiteLLM (HTTP guardrail API and in-process plugin)."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from tests.gateways.conftest import ALLOWED, DENIED
from tests.live import LiveBroker

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# --- OPA Data API shape ------------------------------------------------------------------------


def test_opa_shape_with_tollgate_input(broker: LiveBroker, gateway_token: str) -> None:
    r = httpx.post(
        broker.url + "/v1/data/tollgate/routing/decision", json={"input": ALLOWED}, headers=_auth(gateway_token)
    )
    assert r.status_code == 200
    doc = r.json()
    assert doc["result"]["allow"] is True and doc["result"]["status"] == 200
    assert doc["decision_id"] == doc["result"]["decision_id"]


def test_opa_shape_with_kong_input(broker: LiveBroker, gateway_token: str) -> None:
    kong_input = {
        "request": {
            "http": {
                "host": "gw.example",
                "method": "POST",
                "path": "/v1/chat/completions",
                "headers": {"X-Tollgate-Tenant": DENIED["tenant"], "X-Tollgate-Region": DENIED["region"]},
                "parsed_body": {"model": DENIED["model"], "messages": []},
            }
        },
        "client_ip": "127.0.0.1",
    }
    r = httpx.post(
        broker.url + "/v1/data/tollgate/routing/decision", json={"input": kong_input}, headers=_auth(gateway_token)
    )
    assert r.status_code == 200
    result = r.json()["result"]
    assert result["allow"] is False and result["status"] == 403
    assert "RESIDENCY_VIOLATION" in result["headers"]["x-tollgate-reasons"]
    assert result["message"]["allow"] is False


@pytest.mark.parametrize("body", [{"inputs": {}}, {"input": {"tenant": "x"}}, {"input": {"request": {}}}, [1]])
def test_opa_shape_bad_input_names_the_problem(broker: LiveBroker, gateway_token: str, body: Any) -> None:
    r = httpx.post(broker.url + "/v1/data/tollgate/routing/decision", json=body, headers=_auth(gateway_token))
    assert r.status_code == 422
    assert r.json()["error"]["code"] in {"VALIDATION_FAILED", "GATEWAY_FIELD_MISSING"}
    assert "input" in r.json()["error"]["message"]


# --- LiteLLM Generic Guardrail API -------------------------------------------------------------


def _guardrail(broker: LiveBroker, token: str, payload: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(broker.url + "/beta/litellm_basic_guardrail_api", json=payload, headers=_auth(token))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["action"] in {"NONE", "BLOCKED"}  # always explicit
    return body


def test_litellm_api_allows_and_blocks(broker: LiveBroker, gateway_token: str) -> None:
    def payload(q: dict[str, str]) -> dict[str, Any]:
        return {
            "input_type": "request",
            "litellm_call_id": "c1",
            "model": q["model"],
            "texts": ["hi"],
            "request_data": {"user_api_key_team_id": q["tenant"]},
            "additional_provider_specific_params": {"serving_region": q["region"]},
        }

    assert _guardrail(broker, gateway_token, payload(ALLOWED))["action"] == "NONE"
    blocked = _guardrail(broker, gateway_token, payload(DENIED))
    assert blocked["action"] == "BLOCKED" and "RESIDENCY_VIOLATION" in blocked["blocked_reason"]
    no_region = payload(ALLOWED)
    del no_region["additional_provider_specific_params"]
    missing = _guardrail(broker, gateway_token, no_region)
    assert missing["action"] == "BLOCKED" and "x-tollgate-region" in missing["blocked_reason"]
    assert _guardrail(broker, gateway_token, {"input_type": "response", "texts": ["x"]})["action"] == "NONE"


# --- LiteLLM in-process plugin (real LiteLLM CustomGuardrail) ------------------------------------


def _deployment(region: str, model: str = "anthropic.claude-opus-4-7") -> dict[str, Any]:
    return {
        "model_name": "opus",
        "litellm_params": {"model": f"bedrock/{model}"},
        "model_info": {"tollgate_region": region, "tollgate_model": model},
    }


@pytest.mark.anyio
async def test_litellm_plugin_filters_deployments_and_fails_closed(broker: LiveBroker, gateway_token: str) -> None:
    from litellm.integrations.custom_guardrail import CustomGuardrail

    from broker.gateways.litellm_plugin import TollgateGuardrail, deployment_region

    guard = TollgateGuardrail(api_base=broker.url, api_key=gateway_token, timeout_s=5)
    assert isinstance(guard, CustomGuardrail)
    deps = [_deployment("aws-bedrock:us"), _deployment("aws-bedrock:eu"), {"litellm_params": {"model": "x"}}]
    kwargs = {"metadata": {"user_api_key_team_id": "demo-de-eu-resident"}}
    kept = await guard.async_filter_deployments("opus", deps, None, request_kwargs=kwargs)
    assert [deployment_region(d) for d in kept] == []  # an EU-residency tenant: neither US nor EU (GB/CH) scope
    kept = await guard.async_filter_deployments(
        "opus", deps, None, request_kwargs={"metadata": {"user_api_key_team_id": "demo-us-commercial"}}
    )
    assert [deployment_region(d) for d in kept] == ["aws-bedrock:us", "aws-bedrock:eu"]  # unplaceable one dropped
    assert await guard.async_filter_deployments("opus", deps, None, request_kwargs={}) == []  # no tenant

    down = TollgateGuardrail(api_base="http://127.0.0.1:9", api_key=gateway_token, timeout_s=0.5)
    assert await down.async_filter_deployments("opus", deps, None, request_kwargs=kwargs) == []


@pytest.mark.anyio
async def test_litellm_plugin_pre_call_hook(broker: LiveBroker, gateway_token: str) -> None:
    from fastapi import HTTPException

    from broker.gateways.litellm_plugin import TollgateGuardrail

    guard = TollgateGuardrail(api_base=broker.url, api_key=gateway_token, timeout_s=5)
    ok = {
        "model": ALLOWED["model"],
        "metadata": {"tollgate_region": ALLOWED["region"], "tollgate_tenant": ALLOWED["tenant"]},
    }
    assert await guard.async_pre_call_hook(None, None, ok, "acompletion") is ok
    bad = {
        "model": DENIED["model"],
        "metadata": {"tollgate_region": DENIED["region"], "tollgate_tenant": DENIED["tenant"]},
    }
    with pytest.raises(HTTPException) as denied:
        await guard.async_pre_call_hook(None, None, bad, "acompletion")
    assert denied.value.status_code == 403
    down = TollgateGuardrail(api_base="http://127.0.0.1:9", api_key=gateway_token, timeout_s=0.5)
    with pytest.raises(HTTPException) as unavailable:
        await down.async_pre_call_hook(None, None, ok, "acompletion")
    assert unavailable.value.status_code == 503
