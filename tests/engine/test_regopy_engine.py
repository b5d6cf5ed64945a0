"""The referee engine: regopy (rego-cpp). Slow, and fenced against its native crashes."""

from __future__ import annotations

import pytest
from adapter_contract import (
    check_closed,
    check_evaluate,
    check_non_object_decision,
    check_other_thread,
    check_parse_error,
    check_undefined_decision,
)
from conftest import DATA, POLICY

from broker.engine.errors import EngineFailure
from broker.engine.interface import PolicyBundle
from broker.engine.regopy_engine import RegopyEngine


@pytest.fixture
def engine() -> RegopyEngine:
    return RegopyEngine()


def test_identity(engine: RegopyEngine) -> None:
    assert (engine.name, engine.version) == ("regopy", "1.5.2")


def test_evaluate(engine: RegopyEngine, bundle: PolicyBundle) -> None:
    check_evaluate(engine, bundle)


def test_parse_error_located(engine: RegopyEngine, capfd: pytest.CaptureFixture[str]) -> None:
    check_parse_error(engine)
    # rego-cpp prints the error to fd 1; the adapter captured it instead.
    assert "Invalid assignment" not in capfd.readouterr().out


def test_undefined_decision_fails(engine: RegopyEngine) -> None:
    check_undefined_decision(engine)


def test_non_object_decision_fails(engine: RegopyEngine) -> None:
    check_non_object_decision(engine)


def test_missing_builtin_is_engine_failure(engine: RegopyEngine) -> None:
    # regopy's Output raises JSONDecodeError on the "Function not found" error string.
    engine.load(
        PolicyBundle({"p.rego": 'package x\n\nimport rego.v1\n\nr := strings.split_n("a", ",", 1)\n'}, {}, "r", 1)
    )
    with pytest.raises(EngineFailure):
        engine.query("data.x.r")


def test_strict_builtin_error_is_engine_failure(capfd: pytest.CaptureFixture[str]) -> None:
    engine = RegopyEngine(strict_builtin_errors=True)
    engine.load(PolicyBundle({"p.rego": "package x\n\nimport rego.v1\n\nr := 1 / 0\n"}, {}, "r", 1))
    with pytest.raises(EngineFailure) as info:
        engine.query("data.x.r")
    assert "failed" in info.value.message
    assert capfd.readouterr().out == ""


def test_native_crash_is_refused_at_load(engine: RegopyEngine) -> None:
    # rego-cpp 1.5.2 aborts the process compiling this (valid) policy; the child-process probe
    # turns that into EngineFailure instead of killing the broker.
    crashing = (
        "package tollgate.routing\n\nimport rego.v1\n\ndefault p := false\n\np if input.t in data.ok\n\n"
        'decision := {"p": p} if {\n\tp with input as {"t": "a"}\n}\n'
    )
    with pytest.raises(EngineFailure, match="crash"):
        engine.load(PolicyBundle({"p.rego": crashing}, {"ok": ["a"]}, "r", 1))


def test_other_threads(engine: RegopyEngine, bundle: PolicyBundle) -> None:
    check_other_thread(engine, bundle)


def test_run_tests(engine: RegopyEngine) -> None:
    tests = (
        "package tollgate.routing\n\nimport rego.v1\n\n"
        'test_ok if {\n\tallow with input.tenant as "t1"\n}\n\n'
        'test_no if {\n\tallow with input.tenant as "t9"\n}\n'
    )
    engine.load(PolicyBundle({"routing.rego": POLICY, "routing_test.rego": tests}, DATA, "r", 1))
    report = engine.run_tests()
    assert {r.name: r.outcome for r in report.results} == {"test_ok": "pass", "test_no": "fail"}
    assert report.coverage is None


def test_run_tests_survives_crash(engine: RegopyEngine, bundle_with_tests: PolicyBundle) -> None:
    crash = (
        "package tollgate.routing\n\nimport rego.v1\n\n"
        'test_whole_input if {\n\tallow with input as {"tenant": "t1"}\n}\n'
    )
    modules = {**bundle_with_tests.modules, "crash_test.rego": crash}
    engine.load(PolicyBundle(modules, bundle_with_tests.data, "r", 1))  # *_test.rego not served
    report = engine.run_tests()
    assert report.count("error") >= 1
    assert any("crashed" in r.message for r in report.results)


def test_closed(engine: RegopyEngine, bundle: PolicyBundle) -> None:
    check_closed(engine, bundle)
