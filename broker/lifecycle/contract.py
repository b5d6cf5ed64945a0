"""The decision-document contract every policy version must keep, checked on canonical inputs.

Pre-flight and gateways rely on ``data.tollgate.routing.decision`` being
``{allow: bool, reasons: [{code, message, facts}], obligations: [...], valid_until_ns: int|null}``
with reason codes from a fixed vocabulary (issue 3; ``rego/README.md``). A policy edit that
breaks the shape would turn every request into a 503, so it is caught before proposal.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from broker.engine.interface import PolicyEngine

# The documented vocabulary (issue 3), plus INVALID_INPUT which the shipped pack uses for
# malformed input that slipped past the API. Extended by codes documented in rego/README.md.
BASE_REASON_CODES = frozenset(
    {
        "UNKNOWN_TENANT",
        "UNKNOWN_MODEL",
        "UNKNOWN_REGION",
        "TENANT_SUSPENDED",
        "MODEL_NOT_DEPLOYED",
        "SANCTIONED_JURISDICTION",
        "EMBARGOED_DESTINATION",
        "EXPORT_RESTRICTED_MODEL",
        "COVERED_FRONTIER_PRE_RELEASE",
        "RESIDENCY_VIOLATION",
        "PROVIDER_TERMS",
        "ENTITY_LIST_PROVIDER",
        "CN_FILING_REQUIRED",
        "INVALID_INPUT",
    }
)
_DOC_CODE = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]+)`", re.MULTILINE)


def known_reason_codes(readme: Path | None = None) -> frozenset[str]:
    """The base vocabulary plus every code in the first column of a table in the pack README."""
    if readme is None:
        from broker.policy.pack import DEFAULT_PACK_DIR

        readme = DEFAULT_PACK_DIR / "README.md"
    try:
        documented = set(_DOC_CODE.findall(readme.read_text("utf-8")))
    except OSError:
        documented = set()
    return BASE_REASON_CODES | documented


def canonical_inputs(registry_doc: Mapping[str, Any], now_ns: int | None = None) -> list[dict[str, Any]]:
    """A handful of inputs that exercise the shape: a deployed triple, unknown ids, a subject."""
    now = time.time_ns() if now_ns is None else now_ns
    reg = registry_doc.get("tollgate", {}).get("registry", {})
    tenants = sorted(reg.get("tenants", {}))
    models = reg.get("models", {})
    targets = sorted(reg.get("targets", {}))
    tenant = tenants[0] if tenants else "tollgate-contract-tenant"
    target = targets[0] if targets else "aws:contract-region"
    model = sorted(models)[0] if models else "tollgate-contract-model"
    for mid in sorted(models):  # prefer a model with a deployment, so the allow path is reached
        deployed = sorted(models[mid].get("deployments", {}))
        if deployed:
            model, target = mid, deployed[0]
            break
    base = {"tenant": tenant, "target": target, "model": model, "subject": None, "now_ns": now}
    return [
        base,
        base | {"subject": {"nationalities": ["US"], "us_person": True}},
        base | {"subject": {"nationalities": ["FR"], "us_person": False}},
        base | {"tenant": "tollgate.contract-unknown"},
        base | {"model": "tollgate.contract-unknown"},
        base | {"target": "aws:tollgate-contract-unknown"},
    ]


def _entry_problems(kind: str, items: Any, codes: frozenset[str] | None) -> list[str]:
    if not isinstance(items, list):
        return [f"{kind} is {type(items).__name__}, not a list"]
    problems: list[str] = []
    for i, item in enumerate(items):
        where = f"{kind}[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where} is not an object")
            continue
        code = item.get("code")
        if not isinstance(code, str) or not code:
            problems.append(f"{where}.code is missing or not a string")
        elif codes is not None and code not in codes:
            problems.append(f"{where}.code {code!r} is not in the documented vocabulary")
        if not isinstance(item.get("message"), str) or not item.get("message"):
            problems.append(f"{where}.message is missing or empty")
        if not isinstance(item.get("facts"), dict):
            problems.append(f"{where}.facts is not an object")
    return problems


def shape_problems(doc: Any, codes: frozenset[str]) -> list[str]:
    """Everything wrong with one decision document (empty list: it keeps the contract)."""
    if not isinstance(doc, dict):
        return [f"decision is {type(doc).__name__}, not an object"]
    problems: list[str] = []
    allow = doc.get("allow")
    if not isinstance(allow, bool):
        problems.append("allow is missing or not a boolean")
    problems += _entry_problems("reasons", doc.get("reasons"), codes)
    problems += _entry_problems("obligations", doc.get("obligations"), None)
    vu = doc.get("valid_until_ns", "missing")
    if vu is not None and (not isinstance(vu, int) or isinstance(vu, bool)):
        problems.append("valid_until_ns is missing or not an integer/null")
    if isinstance(allow, bool) and isinstance(doc.get("reasons"), list) and allow != (not doc["reasons"]):
        problems.append("allow must be true exactly when reasons is empty")
    return problems


def check_contract(engine: PolicyEngine, inputs: list[dict[str, Any]], codes: frozenset[str]) -> dict[str, Any]:
    """Evaluate ``inputs`` on a loaded engine; unknown ids must also be denied with their code."""
    cases: list[dict[str, Any]] = []
    for inp in inputs:
        try:
            doc: Any = engine.evaluate(inp)
            problems = shape_problems(doc, codes)
        except Exception as exc:  # an engine failure on a canonical input breaks the contract
            doc, problems = None, [f"evaluation failed: {exc}"]
        for field, code in (("tenant", "UNKNOWN_TENANT"), ("model", "UNKNOWN_MODEL"), ("target", "UNKNOWN_REGION")):
            if str(inp.get(field, "")).startswith(("tollgate.contract-unknown", "aws:tollgate-contract-unknown")):
                reasons = doc.get("reasons", []) if isinstance(doc, dict) else []
                got = {r.get("code") for r in reasons if isinstance(r, dict)}
                if not isinstance(doc, dict) or doc.get("allow") is not False or code not in got:
                    problems.append(f"an unknown {field} must be denied with {code}")
        cases.append({"input": inp, "ok": not problems, "problems": problems})
    return {"ok": all(c["ok"] for c in cases), "rule": "data.tollgate.routing.decision", "cases": cases}
