"""Differential check: evaluate the same inputs on two (or more) engines and report disagreements.

The engines are independent implementations of Rego (regorus in Rust, rego-cpp in C++), so a
disagreement means one of them is wrong on our pack -- or the pack leans on behaviour the
language leaves open. Either way it must be looked at before the pack ships.

Outputs are compared as canonical JSON after one normalisation: an integral float equals the
integer (1.0 == 1), since engines print numbers differently and JSON does not distinguish them.
An engine error is recorded as ``{"error": ...}`` and counts as a disagreement unless every
engine raised (then it is reported under ``errors``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from broker.engine.factory import create_engine
from broker.engine.interface import PolicyBundle, PolicyEngine
from broker.errors import TollgateError

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Disagreement:
    input: dict[str, Any]
    outputs: dict[str, Any]  # engine name -> decision document or {"error": message}


@dataclass
class DifferentialReport:
    engines: tuple[str, ...]
    evaluated: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)
    errors: list[Disagreement] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # evaluation time per engine
    load_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.disagreements and not self.errors

    def summary(self) -> str:
        times = ", ".join(
            f"{e}: load {self.load_seconds.get(e, 0):.2f}s, eval {self.seconds.get(e, 0):.2f}s "
            f"({1e6 * self.seconds.get(e, 0) / max(1, self.evaluated):.0f} us/decision)"
            for e in self.engines
        )
        return (
            f"{self.evaluated} decisions on {', '.join(self.engines)}: "
            f"{len(self.disagreements)} disagreements, {len(self.errors)} errors on every engine. {times}"
        )


def normalise(value: Any) -> Any:
    """Integral floats as ints, recursively (see module docstring)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def canonical(value: Any) -> str:
    return json.dumps(normalise(value), sort_keys=True, separators=(",", ":"))


def _evaluate(engine: PolicyEngine, item: Mapping[str, Any]) -> Any:
    try:
        return engine.evaluate(item)
    except TollgateError as exc:
        return {"error": f"{type(exc).__name__}: {exc.message}"}


def run_differential(
    engine_names: Sequence[str],
    modules: Mapping[str, str],
    data: Mapping[str, Any],
    inputs: Sequence[Mapping[str, Any]],
    *,
    progress: Progress | None = None,
    engines: Mapping[str, PolicyEngine] | None = None,
) -> DifferentialReport:
    """Evaluate ``inputs`` on every engine (created by name unless given in ``engines``)."""
    if len(engine_names) < 2:
        raise ValueError("a differential check needs at least two engines")
    report = DifferentialReport(tuple(engine_names))
    bundle = PolicyBundle(modules=modules, data=data, policy_revision="differential", registry_revision=0)
    loaded: dict[str, PolicyEngine] = {}
    for name in engine_names:
        engine = (engines or {}).get(name) or create_engine(name)
        started = time.perf_counter()
        engine.load(bundle)
        report.load_seconds[name] = time.perf_counter() - started
        report.seconds[name] = 0.0
        loaded[name] = engine
    try:
        for done, item in enumerate(inputs, 1):
            outputs: dict[str, Any] = {}
            for name, engine in loaded.items():
                started = time.perf_counter()
                outputs[name] = _evaluate(engine, item)
                report.seconds[name] += time.perf_counter() - started
            report.evaluated += 1
            errored = [n for n, o in outputs.items() if isinstance(o, dict) and set(o) == {"error"}]
            if len(errored) == len(outputs):
                report.errors.append(Disagreement(dict(item), outputs))
            elif len({canonical(o) for o in outputs.values()}) > 1:
                report.disagreements.append(Disagreement(dict(item), outputs))
            if progress is not None:
                progress(done, len(inputs))
    finally:
        for name, engine in loaded.items():
            if engines is None or name not in engines:
                engine.close()
    return report
