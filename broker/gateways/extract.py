"""Reading tenant, serving region and model out of what a gateway forwards.

Pure functions over plain mappings, shared by every dialect. A missing field is an explicit
error (the gateway gets a 4xx/denied answer naming the header), never a default that could allow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.decisions.model import PreflightQuery, Subject
from broker.errors import ValidationFailed

MAX_FIELD = 256


@dataclass(frozen=True)
class HeaderNames:
    """Which request headers carry the pre-flight fields (configurable per deployment)."""

    tenant: str = "x-tollgate-tenant"
    region: str = "x-tollgate-region"
    model: str = "x-tollgate-model"
    nationalities: str = "x-tollgate-subject-nationalities"
    us_person: str = "x-tollgate-subject-us-person"


def _clean(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"missing {what}", code="GATEWAY_FIELD_MISSING", details={"field": what})
    text: str = value.strip()
    if len(text) > MAX_FIELD:
        raise ValidationFailed(f"{what} is longer than {MAX_FIELD} characters", details={"field": what})
    return text


def model_from_body(body: bytes | str | None) -> str | None:
    """The ``model`` of an OpenAI-style JSON request body, if there is one."""
    if not body:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: not a usable body
        return None
    model = doc.get("model") if isinstance(doc, dict) else None
    return model if isinstance(model, str) else None


def subject_from_headers(headers: Mapping[str, str], names: HeaderNames) -> Subject | None:
    nats = headers.get(names.nationalities)
    us = headers.get(names.us_person)
    if nats is None and us is None:
        return None
    nationalities = tuple(n.strip().upper() for n in (nats or "").split(",") if n.strip())
    if us is not None and us.lower() not in {"true", "false"}:
        raise ValidationFailed(f"{names.us_person} must be 'true' or 'false'", details={"field": names.us_person})
    return Subject(nationalities=nationalities, us_person=(us or "").lower() == "true")


def query_from_headers(
    headers: Mapping[str, str],
    names: HeaderNames,
    *,
    body: bytes | str | None = None,
    region: str | None = None,
) -> PreflightQuery:
    """Build a query from lower-cased headers; the model may come from the JSON body instead."""
    tenant = _clean(headers.get(names.tenant), f"header {names.tenant}")
    region_value = _clean(region if region is not None else headers.get(names.region), f"header {names.region}")
    model_value = headers.get(names.model) or model_from_body(body)
    model = _clean(model_value, f"header {names.model} or a JSON body 'model'")
    return PreflightQuery(
        tenant=tenant, target=region_value, model=model, subject=subject_from_headers(headers, names)
    )


def reason_codes(reasons: Any) -> str:
    """A compact header value: ``CODE1,CODE2``."""
    return ",".join(str(r.get("code", "")) for r in reasons if isinstance(r, Mapping))
