"""Default engine: gordon-to-regorus (import name ``regorus``), in process.

Facts that shape this adapter (measured, see /work/shared/research/engines.md):

* A ``regorus.Engine`` is *unsendable*: calling it from another thread than its creator panics,
  and freeing it there leaks it (pyo3 reports "unsendable ... dropped on another thread"). So
  each thread keeps its own native engines, one per adapter, built lazily from the current
  generation's modules and data JSON, in a table only that thread ever touches (``_THREAD``):
  an adapter collected or closed anywhere just retires its serial number, and each thread frees
  its engines for retired adapters itself, on its next evaluation or when it exits. A ``load``
  builds a new generation and swaps one reference; an evaluation reads that reference once, so
  it finishes on the generation it started with.
* Rust panics (e.g. ``strings.count(s, "")``) surface as ``PanicException``, a BaseException; every
  engine call is fenced and turned into EngineFailure, and the thread's engine is discarded.
* Only the JSON-string APIs are used: they keep booleans boolean and 1.78e18 nanosecond ints
  exact, and do not fail on sets of composites as the object API does.
* The compiled RVM path (``Program``/``Rvm``) is not used: it gave wrong decisions (see
  benchmarks/engine_api_modes.py).
"""

from __future__ import annotations

import importlib.metadata
import itertools
import re
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import regorus

from broker.engine._util import dumps, is_fatal, loads
from broker.engine.errors import (
    Diagnostic,
    EngineFailure,
    PolicyCompileError,
    UndefinedResult,
    clean_message,
)
from broker.engine.interface import (
    DECISION_RULE,
    FileCoverage,
    Outcome,
    PolicyBundle,
    PolicyEngine,
    RuleTestResult,
    TestReport,
    discover_tests,
)

NAME = "regorus"
_UNDEFINED = '"<undefined>"'  # what the *_as_json APIs return for an undefined rule
_LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)")
_ERROR_LINE = re.compile(r"^error:\s*(?P<msg>.*)$", re.MULTILINE)
_generations = itertools.count(1)
_serials = itertools.count(1)
_retired: set[int] = set()  # serials of adapters closed or collected (a set.add is atomic)


class _ThreadEngines(threading.local):
    """The calling thread's native engines: adapter serial -> (generation, engine)."""

    def __init__(self) -> None:
        self.slots: dict[int, tuple[_Generation, Any]] = {}
        self.retired_seen = 0  # len(_retired) when this thread last freed retired engines

    def purge(self) -> None:
        """Free (on this, their own thread) the engines of adapters retired since last time."""
        for serial in [s for s in self.slots if s in _retired]:
            del self.slots[serial]
        self.retired_seen = len(_retired)


_THREAD = _ThreadEngines()


@dataclass(frozen=True, eq=False)
class _Generation:
    """An immutable loaded state; identity (not equality) tells threads to rebuild."""

    bundle: PolicyBundle
    data_json: str
    number: int


def _diagnostics(message: str) -> list[Diagnostic]:
    """Parse regorus's ``--> file:line:col … error: msg`` report (it stops at the first error)."""
    where = _LOCATION.search(message)
    what = _ERROR_LINE.search(message)
    text = what.group("msg").strip() if what else message.strip().splitlines()[-1:][0]
    if where is None:
        return [Diagnostic(file="", line=0, column=0, message=text)]
    return [Diagnostic(where.group("file"), int(where.group("line")), int(where.group("col")), text)]


def _build(gen: _Generation, *, coverage: bool = False) -> Any:
    """A fresh engine holding ``gen`` (must be called on the thread that will use it)."""
    engine = regorus.Engine()
    # print() in policies must not write to the service's stderr; we collect it in run_tests.
    engine.set_gather_prints(True)
    for file in sorted(gen.bundle.modules):
        engine.add_policy(file, gen.bundle.modules[file])
    engine.add_data_json(gen.data_json)
    if coverage:
        engine.set_enable_coverage(True)
    # regorus compiles lazily: a trivial query forces the whole-program checks (unsafe variables,
    # rule conflicts) so that they surface at load time rather than on the first request.
    engine.eval_query_as_json("true")
    return engine


class RegorusEngine(PolicyEngine):
    """Thread-safe wrapper over per-thread ``regorus.Engine`` instances."""

    name = NAME
    version = importlib.metadata.version("gordon-to-regorus")

    def __init__(self) -> None:
        self._current: _Generation | None = None
        self._closed = False
        self._new_serial()

    def _new_serial(self) -> None:
        """A key of its own in every thread's table, retired when this adapter is collected."""
        self._serial = next(_serials)
        weakref.finalize(self, _retired.add, self._serial)

    @property
    def bundle(self) -> PolicyBundle | None:
        gen = self._current
        return gen.bundle if gen else None

    def load(self, bundle: PolicyBundle) -> None:
        gen = _Generation(bundle, dumps(dict(bundle.data), "data", NAME), next(_generations))
        try:
            engine = _build(gen)
        except BaseException as exc:
            if is_fatal(exc):
                raise
            message = clean_message(exc)
            if "-->" in message or "error:" in message:
                raise PolicyCompileError(NAME, _diagnostics(message)) from None
            raise EngineFailure(f"{NAME}: load failed: {message}") from None
        if self._serial in _retired:  # loaded again after close(): a fresh table entry
            self._new_serial()
        _THREAD.slots[self._serial] = (gen, engine)
        self._closed = False
        self._current = gen  # the swap: a single reference assignment is atomic under the GIL

    def _engine(self) -> Any:
        gen = self._current
        if gen is None or self._closed:
            raise EngineFailure(f"{NAME}: no policy loaded")
        thread = _THREAD
        if thread.retired_seen != len(_retired):
            thread.purge()
        slot = thread.slots.get(self._serial)
        if slot is not None and slot[0] is gen:
            return slot[1]
        thread.slots.pop(self._serial, None)  # the old generation's engine goes first
        try:
            engine = _build(gen)
        except BaseException as exc:
            if is_fatal(exc):
                raise
            raise EngineFailure(f"{NAME}: engine build failed: {clean_message(exc)}") from None
        thread.slots[self._serial] = (gen, engine)
        return engine

    def _call(self, engine: Any, method: str, *args: str) -> str:
        try:
            result: str = getattr(engine, method)(*args)
        except BaseException as exc:
            if is_fatal(exc):
                raise
            # After a panic the engine's internal state is not trusted: rebuild on next use.
            _THREAD.slots.pop(self._serial, None)
            raise EngineFailure(f"{NAME}: {type(exc).__name__}: {clean_message(exc)}") from None
        return result

    def evaluate(self, input: Mapping[str, Any]) -> dict[str, Any]:
        engine = self._engine()
        self._call(engine, "set_input_json", dumps(input, "input", NAME))
        out = self._call(engine, "eval_rule_as_json", DECISION_RULE)
        if out == _UNDEFINED:
            raise UndefinedResult(f"{NAME}: {DECISION_RULE} is undefined")
        value = loads(out, NAME)
        if not isinstance(value, dict):
            raise EngineFailure(f"{NAME}: {DECISION_RULE} is not an object")
        return value

    def query(self, rule_path: str, input: Mapping[str, Any] | None = None) -> Any:
        engine = self._engine()
        # eval_query (not eval_rule) because its "no result" is unambiguous, while eval_rule's
        # "<undefined>" marker collides with a rule whose value is that string.
        # regorus cannot unset an input, so "no input" is {}: never the previous caller's input.
        self._call(engine, "set_input_json", "{}" if input is None else dumps(input, "input", NAME))
        out = loads(self._call(engine, "eval_query_as_json", rule_path), NAME)
        results = out.get("result") or []
        if not results:
            raise UndefinedResult(f"{NAME}: {rule_path} is undefined")
        return results[0]["expressions"][0]["value"]

    def run_tests(self, filter: str | None = None) -> TestReport:
        gen = self._current
        if gen is None or self._closed:
            raise EngineFailure(f"{NAME}: no policy loaded")
        # A dedicated engine with coverage on, so the serving engines pay nothing for it.
        engine = _build(gen, coverage=True)
        results = []
        for package, rule, file in discover_tests(gen.bundle.modules, filter):
            started = time.perf_counter()
            outcome: Outcome
            try:
                out = engine.eval_rule_as_json(f"data.{package}.{rule}")
                outcome, message = (
                    ("pass", "") if out == "true" else ("fail", "undefined" if out == _UNDEFINED else f"got {out}")
                )
            except BaseException as exc:
                if is_fatal(exc):
                    raise
                outcome, message = "error", clean_message(exc, 500)
            prints = engine.take_prints()
            if prints:
                message = (message + " prints: " + " | ".join(prints)).strip()
            elapsed = (time.perf_counter() - started) * 1e6
            results.append(RuleTestResult(package, rule, file, outcome, message, elapsed))
        return TestReport(NAME, tuple(results), _coverage(engine))

    def release_thread(self) -> None:
        """Free the calling thread's native engine now (regorus engines may only be freed on the
        thread that built them; see broker.decisions.snapshot.release_thread_engine)."""
        _THREAD.slots.pop(self._serial, None)

    def close(self) -> None:
        # Engines owned by other threads are freed by those threads, at their next evaluation
        # or when they exit; this thread's engine is dropped now.
        self._closed = True
        self._current = None
        _THREAD.slots.pop(self._serial, None)
        _retired.add(self._serial)


def _coverage(engine: Any) -> dict[str, FileCoverage]:
    report = loads(engine.get_coverage_report_as_json(), NAME)
    return {
        f["path"]: FileCoverage(f["path"], tuple(f["covered"]), tuple(f["not_covered"]))
        for f in report.get("files", [])
    }
