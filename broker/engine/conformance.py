"""Our own conformance check over the Rego features and built-ins a routing policy pack uses.

Each case is evaluated on a fresh engine: modules + data loaded, ``query`` (a rule path) evaluated
with ``input``, and the value compared with ``expected`` exactly (JSON equality, so ``true`` never
equals ``1`` and big integers must be exact). ``expected`` = UNDEFINED means the rule must be
undefined. Run ``python -m broker.engine.conformance [engine]`` for the table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.engine.errors import EngineFailure, PolicyCompileError, UndefinedResult
from broker.engine.factory import create_engine
from broker.engine.interface import PolicyBundle

UNDEFINED = "<undefined>"  # expected value meaning "the rule is undefined"
_HEAD = "package conf\n\nimport rego.v1\n\n"
NS_Z = 1780358400000000000  # 2026-06-02T00:00:00Z
NS_FRAC = 1780358400123456789


@dataclass(frozen=True)
class Case:
    """One feature probe; ``rego`` is the body of package ``conf`` and ``query`` a rule in it."""

    name: str
    rego: str
    expected: Any
    query: str = "data.conf.r"
    input: Mapping[str, Any] | None = field(default=None)
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def modules(self) -> dict[str, str]:
        return {"conf.rego": _HEAD + self.rego}


CASES: tuple[Case, ...] = (
    Case("parse_rfc3339_ns Z", 'r := time.parse_rfc3339_ns("2026-06-02T00:00:00Z")', NS_Z),
    Case("parse_rfc3339_ns Z nanos", 'r := time.parse_rfc3339_ns("2026-06-02T00:00:00.123456789Z")', NS_FRAC),
    Case("parse_rfc3339_ns +00:00", 'r := time.parse_rfc3339_ns("2026-06-02T00:00:00+00:00")', NS_Z),
    Case("parse_rfc3339_ns +02:00", 'r := time.parse_rfc3339_ns("2026-06-02T02:00:00+02:00")', NS_Z),
    Case(
        "time from input, compared",
        "r if input.now_ns >= time.parse_rfc3339_ns(data.t)",
        True,
        input={"now_ns": NS_Z},
        data={"t": "2026-06-01T00:00:00+00:00"},
    ),
    Case("big int exact (input)", "r := input.now_ns + 1", NS_FRAC + 1, input={"now_ns": NS_FRAC}),
    Case("big int exact (data)", "r := data.ns", NS_FRAC, data={"ns": NS_FRAC}),
    Case(
        "booleans stay booleans",
        "r := [type_name(data.f), data.f == false, data.t == true]",
        ["boolean", True, True],
        data={"f": False, "t": True},
    ),
    Case("false flag not truthy", "r if not data.f", True, data={"f": False}),
    Case("every", "r if {\n\tevery x in [1, 2, 3] { x > 0 }\n}", True),
    Case("every fails", "default r := false\nr if {\n\tevery x in [1, -2] { x > 0 }\n}", False),
    Case("every (braceless rule body)", "r if every x in [1, 2, 3] { x > 0 }", True),
    Case("in membership", 'r := ["a" in {"a", "b"}, "z" in ["a"], "k" in {"k": 1}]', [True, False, False]),
    Case("some x in", "r := [x | some x in [3, 1, 2]; x > 1]", [3, 2]),
    Case("contains partial set", 'deny contains "a" if true\ndeny contains "b" if false\nr := deny', ["a"]),
    Case("set comprehension", "r := {y | some x in [1, 2, 3]; y := x % 2}", [0, 1]),
    Case("object comprehension", 'r := {k: w | some k, v in {"a": 1, "b": 2}; w := v * 2}', {"a": 2, "b": 4}),
    Case("array comprehension", "r := [y | some x in [1, 2, 3]; y := x * x]", [1, 4, 9]),
    Case(
        "sprintf %s %d %v",
        'r := sprintf("region %s not allowed (%d, %v)", ["eu-1", 3, true])',
        "region eu-1 not allowed (3, true)",
    ),
    Case("default", "default r := 7\nr := 1 if false", 7),
    Case(
        "else",
        'f(x) := "neg" if { x < 0 } else := "zero" if { x == 0 } else := "pos"\nr := [f(-1), f(0), f(5)]',
        ["neg", "zero", "pos"],
    ),
    Case(
        "object.get",
        'r := [object.get({"a": 1}, "a", 0), object.get({}, "a", 0), object.get({"a": {"b": 2}}, ["a", "b"], 0)]',
        [1, 0, 2],
    ),
    Case("count", 'r := [count([1, 2]), count({"a"}), count({"k": 1}), count("abc")]', [2, 1, 1, 3]),
    Case("sort", 'r := sort(["b", "a", "c"])', ["a", "b", "c"]),
    Case("concat", 'r := concat(", ", ["a", "b"])', "a, b"),
    Case("startswith", 'r := [startswith("aws:eu", "aws:"), startswith("gcp", "aws")]', [True, False]),
    Case("min/max over sets", "r := [min({3, 1, 2}), max({3, 1, 2})]", [1, 3]),
    Case(
        "set union/intersection/difference",
        "a := {1, 2, 3}\nb := {2, 3, 4}\nr := [a | b, a & b, a - b]",
        [[1, 2, 3, 4], [2, 3], [1]],
    ),
    Case("not", "r if not data.x.missing", True, data={"x": {}}),
    Case(
        "function with multiple bodies",
        'f(x) := "small" if x < 10\nf(x) := "big" if x >= 10\nr := [f(1), f(50)]',
        ["small", "big"],
    ),
    Case("with input as", 'p if input.x == 1\nr if p with input as {"x": 1}', True, input={"x": 2}),
    Case("with input as (braceless not)", 'p if input.x == 1\nr if not p with input as {"x": 2}', True),
    Case("with input.path as", "p if input.x == 1\nr if { p with input.x as 1 }", True),
    Case("missing keys propagate undefined", "r := data.a.b.c", UNDEFINED, data={"a": {}}),
    Case(
        "undefined local stops body",
        "m := data.models[input.m]\n"
        'deny contains "nd" if {\n\tregions := m.regions\n\tnot input.r in regions\n}\nr := deny',
        [],
        input={"m": "zz", "r": "x"},
        data={"models": {"a": {"regions": ["x"]}}},
    ),
    Case(
        "nested object access",
        "r := data.t[input.id].country",
        "DE",
        input={"id": "t1"},
        data={"t": {"t1": {"country": "DE"}}},
    ),
    Case("time.now_ns not needed", "r := input.now_ns", NS_Z, input={"now_ns": NS_Z}),
    # rego-cpp 1.5.2 segfaults here (found while testing run_tests): run it isolated.
    Case(
        "with input as over default+in rule",
        'default p := false\np if input.t in data.ok\nr if p with input as {"t": "a"}',
        True,
        data={"ok": ["a"]},
    ),
)


@dataclass(frozen=True)
class CaseResult:
    """``status``: pass, fail (wrong value) or error (compile/runtime error)."""

    case: str
    engine: str
    status: str
    got: Any = None
    detail: str = ""


def _normalise(value: Any) -> Any:
    # Engines return sets as sorted arrays already; sort here too so order never matters for sets.
    return json.loads(json.dumps(value, sort_keys=True))


def run_case(engine_name: str, case: Case, **opts: Any) -> CaseResult:
    """Evaluate one case on a fresh engine."""
    engine = create_engine(engine_name, **opts)
    try:
        engine.load(PolicyBundle(case.modules, case.data, "conformance", 0))
        try:
            got: Any = engine.query(case.query, case.input)
        except UndefinedResult:
            got = UNDEFINED
    except (PolicyCompileError, EngineFailure) as exc:
        return CaseResult(case.name, engine_name, "error", detail=exc.message[:200])
    finally:
        engine.close()
    ok = _normalise(got) == _normalise(case.expected)
    return CaseResult(
        case.name, engine_name, "pass" if ok else "fail", got, "" if ok else f"expected {case.expected!r}"
    )


def run_isolated(engine_name: str, index: int, timeout: float = 120.0) -> CaseResult:
    """Run ``CASES[index]`` in a child process, so a native crash becomes an ``error`` result."""
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "broker.engine.conformance", "--one", engine_name, str(index)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return CaseResult(CASES[index].name, engine_name, "error", detail=f"engine process crashed ({proc.returncode})")
    row = json.loads(lines[-1])
    return CaseResult(**row)


def run_conformance(engine_name: str = "regorus", *, isolate: bool | None = None, **opts: Any) -> list[CaseResult]:
    """Every case in CASES on ``engine_name``; regopy runs isolated by default (it can segfault)."""
    if isolate is None:
        isolate = engine_name == "regopy"
    if isolate:
        return [run_isolated(engine_name, i) for i in range(len(CASES))]
    return [run_case(engine_name, case, **opts) for case in CASES]


def table(results: list[CaseResult]) -> str:
    """A printable fixed-width table of results."""
    width = max(len(r.case) for r in results)
    lines = [f"{'case':{width}}  engine   status  detail"]
    for r in results:
        detail = r.detail if r.status == "error" else ("" if r.status == "pass" else f"got {r.got!r}; {r.detail}")
        lines.append(f"{r.case:{width}}  {r.engine:7}  {r.status:6}  {detail}"[:220])
    passed = sum(r.status == "pass" for r in results)
    lines.append(f"{passed}/{len(results)} passed")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        result = run_case(sys.argv[2], CASES[int(sys.argv[3])])
        print(json.dumps(result.__dict__, default=str))
    else:
        for name in sys.argv[1:] or ["regorus"]:
            print(table(run_conformance(name)))
