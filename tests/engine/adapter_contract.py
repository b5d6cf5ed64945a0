"""Behaviour every in-process adapter must have; imported by the per-engine test modules."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from broker.engine.errors import EngineFailure, PolicyCompileError, UndefinedResult
from broker.engine.interface import PolicyBundle, PolicyEngine

NS = 1780358400123456789


def check_evaluate(engine: PolicyEngine, bundle: PolicyBundle) -> None:
    engine.load(bundle)
    decision = engine.evaluate({"tenant": "t1", "region": "eu", "now_ns": NS})
    assert decision == {"allow": True, "now_ns": NS, "flag": False}
    assert decision["flag"] is False and decision["allow"] is True  # not 0/1
    assert engine.evaluate({"tenant": "t9", "region": "eu", "now_ns": 1})["allow"] is False


def check_parse_error(engine: PolicyEngine) -> None:
    bad = PolicyBundle({"bad.rego": "package x\n\nimport rego.v1\n\np if {\n  x := \n}\n"}, {}, "r", 1)
    with pytest.raises(PolicyCompileError) as info:
        engine.load(bad)
    diag = info.value.diagnostics[0]
    assert (diag.file, diag.line) == ("bad.rego", 6)
    assert diag.column > 0 and diag.message
    assert info.value.status == 422
    assert "Stack backtrace" not in info.value.message


def check_undefined_decision(engine: PolicyEngine) -> None:
    engine.load(
        PolicyBundle({"p.rego": "package tollgate.routing\n\nimport rego.v1\n\ndecision := 1 if false\n"}, {}, "r", 1)
    )
    with pytest.raises(UndefinedResult) as info:
        engine.evaluate({})
    assert info.value.status == 503 and info.value.code == "ENGINE_FAILURE"


def check_non_object_decision(engine: PolicyEngine) -> None:
    engine.load(
        PolicyBundle({"p.rego": "package tollgate.routing\n\nimport rego.v1\n\ndecision := true\n"}, {}, "r", 1)
    )
    with pytest.raises(EngineFailure):
        engine.evaluate({})


def check_other_thread(engine: PolicyEngine, bundle: PolicyBundle) -> None:
    engine.load(bundle)
    results: list[Any] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                results.append(engine.evaluate({"tenant": "t1", "region": "x", "now_ns": NS}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 60 and all(r["allow"] is False for r in results)


def check_closed(engine: PolicyEngine, bundle: PolicyBundle) -> None:
    engine.load(bundle)
    engine.close()
    with pytest.raises(EngineFailure):
        engine.evaluate({"tenant": "t1"})
