"""Referee engine: regopy (Microsoft rego-cpp), an implementation independent of regorus.

It is slow on a large data document (≈10 ms per decision through the compiled bundle, seconds
through plain queries), so it serves the differential check and tests, not the hot path.
Known gaps (see broker.engine.conformance): ``time.parse_rfc3339_ns`` with a ``Z`` suffix is
undefined, ``strings.split_n`` is missing.

Safety measures:
* rego-cpp prints compile/query errors to stdout from C++; calls run under ``capture_fd1`` (see
  its trade-off) and the captured text becomes the error message.
* ``ok() == False``, ``<error>``, non-JSON output (regopy's own ``Output`` then raises
  JSONDecodeError) all become EngineFailure.
* rego-cpp 1.5.2 aborts/segfaults the process on some valid Rego (measured: ``x with input as
  {...}``). ``load`` first compiles and queries the decision once in a child process (``probe``)
  and refuses a policy that kills it; ``*_test.rego`` files are left out of the serving
  interpreter (decisions never need them); ``run_tests`` always runs in child processes, since tests
  are where ``with input as`` lives. Evaluations on the probed policy still run in process.
* One interpreter per engine, guarded by a lock: input is interpreter state, so set_input+query
  must not interleave.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import regopy

from broker.engine._isolated import run_queries
from broker.engine._stdout import capture_fd1
from broker.engine._util import dumps, is_fatal
from broker.engine.errors import (
    Diagnostic,
    EngineFailure,
    PolicyCompileError,
    UndefinedResult,
    clean_message,
    line_col_at,
)
from broker.engine.interface import (
    DECISION_RULE,
    Outcome,
    PolicyBundle,
    PolicyEngine,
    RuleTestResult,
    TestReport,
    discover_tests,
)

NAME = "regopy"
# RegoError text looks like "(error 8:bad.rego|36|2 (errormsg 27:Invalid assignment operator) ..."
# where 36 is a byte offset into the module and 27 the message length.
_ERROR = re.compile(r"\(error \d+:(?P<file>[^|]*)\|(?P<offset>\d+)\|\d+\s*\(errormsg \d+:(?P<msg>[^)\n]*)")
_PRINTED_LOCATION = re.compile(r"^-- (?P<file>.+?):(?P<line>\d+):(?P<col>\d+)\s*$", re.MULTILINE)


def _entrypoint(rule_path: str) -> str:
    return rule_path.removeprefix("data.").replace(".", "/")


def _located(file: str, source: str, raw: str, printed: str) -> list[Diagnostic]:
    diagnostics = []
    for m in _ERROR.finditer(raw):
        prefix = source.encode()[: int(m.group("offset"))].decode("utf-8", "ignore")
        line, col = line_col_at(prefix, len(prefix))
        diagnostics.append(Diagnostic(m.group("file") or file, line, col, m.group("msg").strip()))
    if not diagnostics:
        where = _PRINTED_LOCATION.search(printed)
        msg = clean_message(printed or raw, 500)
        if where:
            diagnostics.append(Diagnostic(where["file"], int(where["line"]), int(where["col"]), msg))
        else:
            diagnostics.append(Diagnostic(file, 0, 0, msg))
    return diagnostics


class RegopyEngine(PolicyEngine):
    """rego-cpp through regopy; decisions via a compiled bundle, other queries interpreted."""

    name = NAME
    version = importlib.metadata.version("regopy")

    def __init__(
        self,
        *,
        capture_stdout: bool = True,
        strict_builtin_errors: bool = False,
        probe: bool = True,
    ) -> None:
        # strict_builtin_errors=False matches OPA's default (a builtin error makes the expression
        # undefined); for the decision that still fails closed, as undefined is a failure.
        self._capture = capture_stdout
        self._strict = strict_builtin_errors
        self._probe = probe
        self._lock = threading.Lock()
        self._interp: Any = None
        self._bundle_obj: Any = None
        self._bundle: PolicyBundle | None = None

    @property
    def bundle(self) -> PolicyBundle | None:
        return self._bundle

    def load(self, bundle: PolicyBundle) -> None:
        data_json = dumps(dict(bundle.data), "data", NAME)
        interp = regopy.Interpreter()
        interp.strict_built_in_errors = self._strict
        serving = {f: src for f, src in bundle.modules.items() if not f.endswith("_test.rego")}
        for file in sorted(serving):
            with capture_fd1(self._capture) as out:
                try:
                    interp.add_module(file, bundle.modules[file])
                except regopy.RegoError as exc:
                    failure: regopy.RegoError | None = exc
                else:
                    failure = None
            if failure is not None:
                raise PolicyCompileError(NAME, _located(file, bundle.modules[file], str(failure), out.text)) from None
        if self._probe:
            self._probe_in_child(bundle, serving)
        with capture_fd1(self._capture) as out:
            try:
                interp.add_data_json(data_json)
                compiled = interp.build(None, [_entrypoint(DECISION_RULE)])
                ok = compiled.ok()
            except regopy.RegoError as exc:
                raise EngineFailure(f"{NAME}: build failed: {clean_message(exc)}") from None
        if not ok:
            raise PolicyCompileError(NAME, [Diagnostic("", 0, 0, clean_message(out.text or "build failed"))])
        with self._lock:
            self._interp, self._bundle_obj, self._bundle = interp, compiled, bundle

    def _probe_in_child(self, bundle: PolicyBundle, serving: dict[str, str]) -> None:
        rows = run_queries(
            serving,
            bundle.data,
            [{"path": DECISION_RULE, "input": {}}],
            build=_entrypoint(DECISION_RULE),
        )
        crashes = [r["crash"] for r in rows if "crash" in r]
        if crashes:
            raise EngineFailure(f"{NAME}: rego-cpp crashes on this policy ({crashes[0]})")

    def _run(self, input: Mapping[str, Any] | None, rule_path: str, use_bundle: bool) -> Any:
        input_json = "{}" if input is None else dumps(input, "input", NAME)
        with self._lock:
            if self._interp is None:
                raise EngineFailure(f"{NAME}: no policy loaded")
            with capture_fd1(self._capture) as printed:
                try:
                    self._interp.set_input_term(input_json)
                    if use_bundle:
                        output = self._interp.query_bundle_entrypoint(self._bundle_obj, _entrypoint(rule_path))
                    else:
                        output = self._interp.query(rule_path)
                    ok, text = output.ok(), str(output)
                except BaseException as exc:
                    if is_fatal(exc):
                        raise
                    # e.g. JSONDecodeError from regopy's Output on "(error ... Function not found"
                    ok, text = False, f"{type(exc).__name__}: {exc}"
        return _value(rule_path, ok, text, printed.text)

    def evaluate(self, input: Mapping[str, Any]) -> dict[str, Any]:
        value = self._run(input, DECISION_RULE, use_bundle=True)
        if not isinstance(value, dict):
            raise EngineFailure(f"{NAME}: {DECISION_RULE} is not an object")
        return value

    def query(self, rule_path: str, input: Mapping[str, Any] | None = None) -> Any:
        return self._run(input, rule_path, use_bundle=rule_path == DECISION_RULE)

    def run_tests(self, filter: str | None = None) -> TestReport:
        bundle = self._bundle
        if bundle is None:
            raise EngineFailure(f"{NAME}: no policy loaded")
        tests = discover_tests(bundle.modules, filter)
        queries = [{"path": f"data.{pkg}.{rule}", "input": {}} for pkg, rule, _ in tests]
        started = time.perf_counter()
        rows = {r["path"]: r for r in run_queries(dict(bundle.modules), bundle.data, queries)}
        per_test = (time.perf_counter() - started) * 1e6 / max(1, len(tests))  # child-side total
        results = []
        for package, rule, file in tests:
            outcome: Outcome
            row = rows.get(f"data.{package}.{rule}", {"crash": "no result"})
            if "crash" in row:
                outcome, message = "error", f"rego-cpp crashed: {row['crash']}"
            else:
                try:
                    value = _value(rule, row["ok"], row["text"], "")
                    outcome, message = ("pass", "") if value is True else ("fail", f"got {value!r}")
                except UndefinedResult:
                    outcome, message = "fail", "undefined"
                except EngineFailure as exc:
                    outcome, message = "error", exc.message
            results.append(RuleTestResult(package, rule, file, outcome, message, per_test))
        return TestReport(NAME, tuple(results), coverage=None)  # rego-cpp reports no coverage

    def close(self) -> None:
        with self._lock:
            self._interp = self._bundle_obj = self._bundle = None


def _value(rule_path: str, ok: bool, text: str, printed: str) -> Any:
    if not ok or text == "<error>":
        detail = clean_message(printed or text, 500) or "no message"
        raise EngineFailure(f"{NAME}: query {rule_path} failed: {detail}")
    if text == "undefined":
        raise UndefinedResult(f"{NAME}: {rule_path} is undefined")
    try:
        parsed = json.loads(text)
    except ValueError:
        raise EngineFailure(f"{NAME}: non-JSON output for {rule_path}: {clean_message(text, 300)}") from None
    results = parsed if isinstance(parsed, list) else [parsed]
    if len(results) != 1 or not results[0].get("expressions"):
        raise UndefinedResult(f"{NAME}: {rule_path} is undefined")
    return results[0]["expressions"][0]
