"""The default engine: gordon-to-regorus through the JSON APIs, one engine per thread."""

from __future__ import annotations

import importlib.metadata
import threading

import pytest
from adapter_contract import (
    check_closed,
    check_evaluate,
    check_non_object_decision,
    check_other_thread,
    check_parse_error,
    check_undefined_decision,
)

from broker.engine.errors import EngineFailure, PolicyCompileError
from broker.engine.interface import PolicyBundle
from broker.engine.regorus_engine import RegorusEngine


@pytest.fixture
def engine() -> RegorusEngine:
    return RegorusEngine()


def test_identity(engine: RegorusEngine) -> None:
    assert engine.name == "regorus"
    assert engine.version == importlib.metadata.version("gordon-to-regorus") == "0.13.0"


def test_evaluate(engine: RegorusEngine, bundle: PolicyBundle) -> None:
    check_evaluate(engine, bundle)


def test_parse_error_located(engine: RegorusEngine) -> None:
    check_parse_error(engine)


def test_compile_error_found_at_load(engine: RegorusEngine) -> None:
    # regorus compiles lazily; load must still report an unsafe variable, with its location.
    bad = PolicyBundle({"u.rego": "package x\n\nimport rego.v1\n\np if { y == 1 }\n"}, {}, "r", 1)
    with pytest.raises(PolicyCompileError) as info:
        engine.load(bad)
    assert info.value.diagnostics[0].line == 5 and "unsafe" in info.value.diagnostics[0].message


def test_failed_load_keeps_previous_policy(engine: RegorusEngine, bundle: PolicyBundle) -> None:
    engine.load(bundle)
    with pytest.raises(PolicyCompileError):
        engine.load(PolicyBundle({"b.rego": "package x\np if {"}, {}, "r2", 2))
    assert engine.evaluate({"tenant": "t1", "region": "eu", "now_ns": 1})["allow"] is True
    assert engine.bundle is bundle


def test_undefined_decision_fails(engine: RegorusEngine) -> None:
    check_undefined_decision(engine)


def test_non_object_decision_fails(engine: RegorusEngine) -> None:
    check_non_object_decision(engine)


def test_panic_becomes_engine_failure(engine: RegorusEngine, bundle: PolicyBundle) -> None:
    engine.load(bundle)
    with pytest.raises(EngineFailure) as info:
        engine.query("data.tollgate.routing.explode", {"s": "abc"})
    assert "PanicException" in info.value.message
    assert "Stack backtrace" not in info.value.message
    # The engine is rebuilt for this thread and keeps working.
    assert engine.evaluate({"tenant": "t1", "region": "eu", "now_ns": 1})["allow"] is True


def test_other_threads(engine: RegorusEngine, bundle: PolicyBundle) -> None:
    check_other_thread(engine, bundle)


def test_swap_during_use(engine: RegorusEngine, bundle: PolicyBundle) -> None:
    engine.load(bundle)
    seen: set[bool] = set()

    def work() -> None:
        for _ in range(200):
            seen.add(engine.evaluate({"tenant": "t2", "region": "eu", "now_ns": 1})["allow"])

    t = threading.Thread(target=work)
    t.start()
    engine.load(PolicyBundle(bundle.modules, {**bundle.data, "tenants_ok": ["t2"]}, "rev-2", 2))
    t.join()
    assert engine.evaluate({"tenant": "t2", "region": "eu", "now_ns": 1})["allow"] is True
    assert seen <= {True, False}


def test_query_and_undefined(engine: RegorusEngine, bundle: PolicyBundle) -> None:
    engine.load(bundle)
    assert engine.query("data.tollgate.routing.allow", {"tenant": "t1", "region": "eu"}) is True
    assert engine.query("data.flag") is False
    with pytest.raises(EngineFailure):
        engine.query("data.tollgate.routing.nope")


def test_run_tests_with_coverage(engine: RegorusEngine, bundle_with_tests: PolicyBundle) -> None:
    engine.load(bundle_with_tests)
    report = engine.run_tests()
    outcomes = {r.name: r.outcome for r in report.results}
    assert outcomes == {
        "test_allow_known": "pass",
        "test_deny_blocked_fails": "fail",
        "test_count_panics": "error",
    }
    assert all(r.file == "routing_test.rego" for r in report.results)
    assert not report.ok
    assert report.coverage is not None and 0 < report.coverage["routing.rego"].percent <= 100
    only = engine.run_tests(filter="allow_known")
    assert [r.name for r in only.results] == ["test_allow_known"] and only.ok


def test_closed(engine: RegorusEngine, bundle: PolicyBundle) -> None:
    check_closed(engine, bundle)


def test_an_adapter_dropped_elsewhere_has_its_engines_freed_by_their_own_threads(bundle: PolicyBundle) -> None:
    """A native engine freed on another thread than its builder is leaked by pyo3 (and reported
    as "unsendable ... dropped on another thread"): every thread frees its own."""
    import gc
    import sys

    from broker.engine import regorus_engine

    unraisable: list[str] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: unraisable.append(repr(u.exc_value))
    go, done, report = threading.Event(), threading.Event(), {}
    held = [RegorusEngine()]  # the only reference, so that clearing it frees the adapter
    held[0].load(bundle)
    serial = held[0]._serial
    keeper = RegorusEngine()
    keeper.load(bundle)

    def worker() -> None:
        held[0].evaluate({"tenant": "t1", "region": "eu", "now_ns": 1})  # this thread's own engine
        report["built"] = serial in regorus_engine._THREAD.slots
        done.set()
        go.wait(10)
        keeper.evaluate({"tenant": "t1", "region": "eu", "now_ns": 1})  # frees the retired one here
        report["after"] = serial in regorus_engine._THREAD.slots

    try:
        t = threading.Thread(target=worker)
        t.start()
        done.wait(10)
        held.clear()  # the adapter dies on the main thread while the worker still holds an engine
        gc.collect()
        go.set()
        t.join(10)
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert report == {"built": True, "after": False}
    assert unraisable == []
