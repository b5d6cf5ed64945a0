"""Validation of a policy set before it may be proposed: compile, strict checks, tests, contract.

Every step runs on a fresh engine loaded with the version's modules and the head registry's data
document (plus the set's own data), the same way pre-flight would load it. The report is JSON and
is stored with the version, so reviewers see exactly what passed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from broker.engine.errors import PolicyCompileError
from broker.engine.interface import PolicyBundle, PolicyEngine
from broker.errors import TollgateError
from broker.lifecycle.contract import canonical_inputs, check_contract, known_reason_codes
from broker.lifecycle.errors import InvalidPolicySet
from broker.lifecycle.files import PolicySet, merged_data
from broker.lifecycle.protocols import EngineFactory
from broker.lifecycle.strict import check_modules

STRICT_CHECKS = (
    "duplicate-import",
    "unused-import",
    "import-shadowed",
    "reserved-name",
    "deprecated-builtin",
    "unused-local-assignment",
    "unused-function-arg",
)


def _tests_report(engine: PolicyEngine) -> dict[str, Any]:
    report = engine.run_tests()
    results = [
        {"package": r.package, "name": r.name, "file": r.file, "outcome": r.outcome, "message": r.message}
        for r in report.results
    ]
    coverage = {
        f: {"percent": round(c.percent, 1), "covered": list(c.covered), "not_covered": list(c.not_covered)}
        for f, c in sorted((report.coverage or {}).items())
    }
    problems = [] if report.results else ["the policy set has no test_* rules"]
    return {
        "ok": report.ok,
        "engine": report.engine,
        "passed": report.count("pass"),
        "failed": report.count("fail"),
        "errors": report.count("error"),
        "results": results,
        "coverage": coverage,
        "problems": problems,
    }


def validate(
    pset: PolicySet,
    engine_factory: EngineFactory,
    registry_doc: Mapping[str, Any],
    registry_revision: int,
    *,
    now_ns: int | None = None,
) -> dict[str, Any]:
    """The full validation report; ``report["ok"]`` is True only if every section passed."""
    started = time.perf_counter()
    skipped = {"ok": False, "skipped": "the policy does not compile"}
    report: dict[str, Any] = {
        "version_id": pset.version_id,
        "registry_revision": registry_revision,
        "strict": {"ok": True, "checks": list(STRICT_CHECKS), "findings": []},
    }
    findings = check_modules(pset.rego)
    report["strict"] = {"ok": not findings, "checks": list(STRICT_CHECKS), "findings": [f.to_json() for f in findings]}
    engine = engine_factory()
    try:
        try:
            data = merged_data(registry_doc, pset.data)
            engine.load(PolicyBundle(pset.rego, data, pset.version_id, registry_revision))
            report["compile"] = {"ok": True, "engine": engine.name, "diagnostics": []}
        except PolicyCompileError as exc:
            diags = [asdict(d) for d in exc.diagnostics]
            report["compile"] = {"ok": False, "engine": exc.engine, "diagnostics": diags}
        except InvalidPolicySet as exc:
            diag = {"file": "", "line": 0, "column": 0, "message": exc.message}
            report["compile"] = {"ok": False, "engine": engine.name, "diagnostics": [diag]}
        if report["compile"]["ok"]:
            try:
                report["tests"] = _tests_report(engine)
            except TollgateError as exc:
                report["tests"] = {"ok": False, "problems": [exc.message], "results": [], "coverage": {}}
            report["contract"] = check_contract(
                engine, canonical_inputs(registry_doc, now_ns), known_reason_codes()
            )
        else:
            report["tests"] = dict(skipped)
            report["contract"] = dict(skipped)
    finally:
        engine.close()
    report["ok"] = all(report[k]["ok"] for k in ("compile", "strict", "tests", "contract"))
    report["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return report


def failure_summary(report: Mapping[str, Any]) -> str:
    """One line naming what failed, with the first located problem of each failed section."""
    parts: list[str] = []
    diags = report.get("compile", {}).get("diagnostics") or []
    if diags:
        d = diags[0]
        parts.append(f"compile: {d['file']}:{d['line']}:{d['column']}: {d['message']}")
    for f in report.get("strict", {}).get("findings", [])[:1]:
        parts.append(f"strict: {f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['check']}]")
    tests = report.get("tests", {})
    if not tests.get("ok") and "skipped" not in tests:
        failing = [r for r in tests.get("results", []) if r["outcome"] != "pass"]
        if failing:
            first = failing[0]
            parts.append(f"tests: {len(failing)} failing, e.g. {first['package']}.{first['name']} ({first['file']})")
        parts += [f"tests: {p}" for p in tests.get("problems", [])]
    contract = report.get("contract", {})
    if not contract.get("ok") and "skipped" not in contract:
        bad = [c for c in contract.get("cases", []) if not c["ok"]]
        if bad:
            parts.append(f"contract: {bad[0]['problems'][0]}")
    return "; ".join(parts) or "validation failed"
