"""Compare gordon-to-regorus API modes on the synthetic workload: agreement and µs per decision.

Modes: JSON rule (eval_rule_as_json), JSON query (eval_query_as_json), object rule (eval_rule with
dict input), and the compiled RVM if present. The JSON-rule mode is the reference for agreement.
Run: .venv/bin/python benchmarks/engine_api_modes.py [n]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.pop("RUST_BACKTRACE", None)  # backtrace capture would distort error paths

import regorus
from engine_workload import ENTRY, POLICY, make_data, make_inputs


def _engine(data_json: str) -> Any:
    e = regorus.Engine()
    e.add_policy("routing.rego", POLICY)
    e.add_data_json(data_json)
    return e


def modes(data_json: str) -> dict[str, Callable[[dict[str, Any]], Any]]:
    e1, e2, e3 = _engine(data_json), _engine(data_json), _engine(data_json)

    def rule_json(inp: dict[str, Any]) -> Any:
        e1.set_input_json(json.dumps(inp))
        return json.loads(e1.eval_rule_as_json(ENTRY))

    def query_json(inp: dict[str, Any]) -> Any:
        e2.set_input_json(json.dumps(inp))
        return json.loads(e2.eval_query_as_json(ENTRY))["result"][0]["expressions"][0]["value"]

    def rule_obj(inp: dict[str, Any]) -> Any:
        e3.set_input(inp)
        return e3.eval_rule(ENTRY)

    out = {"rule_json": rule_json, "query_json": query_json, "rule_obj": rule_obj}
    if hasattr(regorus, "Program") and hasattr(regorus, "Rvm"):
        try:
            prog = regorus.Program.compile_from_modules(data_json, [("routing.rego", POLICY)], [ENTRY])
            vm = regorus.Rvm()
            vm.load_program(prog)
            vm.set_data_json(data_json)

            def rvm(inp: dict[str, Any]) -> Any:
                vm.set_input_json(json.dumps(inp))
                return json.loads(vm.execute_entry_point(ENTRY))

            out["rvm"] = rvm
        except Exception as exc:  # the RVM API differs between builds; report and go on
            print(f"rvm unavailable: {type(exc).__name__}: {exc}")
    return out


def main(n: int = 5000) -> None:
    data = make_data()
    data_json = json.dumps(data)
    inputs = make_inputs(data, n)
    fns = modes(data_json)
    reference = [fns["rule_json"](i) for i in inputs]
    print(f"{'mode':12} {'agree':>11} {'median µs':>10} {'p99 µs':>8}")
    for name, fn in fns.items():
        try:
            got = [fn(i) for i in inputs]
        except BaseException as exc:
            print(f"{name:12} failed: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        agree = sum(1 for a, b in zip(got, reference, strict=True) if a == b)
        times = []
        for inp in inputs:
            t0 = time.perf_counter_ns()
            fn(inp)
            times.append((time.perf_counter_ns() - t0) / 1000)
        times.sort()
        p99 = times[int(len(times) * 0.99) - 1]
        print(f"{name:12} {agree:5}/{n:<5} {statistics.median(times):10.1f} {p99:8.1f}")


UNDEFINED_PROBE = """package p
import rego.v1
model := data.models[input.model]
deny contains "not_deployed" if {
	regions := model.regions
	not input.region in regions
}
r := sort([x | some x in deny])
"""


def rvm_undefined_probe() -> None:
    """The case the research found wrong in the RVM: a local bound to an undefined ref."""
    if not hasattr(regorus, "Program"):
        return
    data = json.dumps({"models": {"m": {"regions": ["a"]}}})
    inp = json.dumps({"model": "unknown", "region": "b"})
    prog = regorus.Program.compile_from_modules(data, [("p.rego", UNDEFINED_PROBE)], ["data.p.r"])
    vm = regorus.Rvm()
    vm.load_program(prog)
    vm.set_data_json(data)
    vm.set_input_json(inp)
    eng = regorus.Engine()
    eng.add_policy("p.rego", UNDEFINED_PROBE)
    eng.add_data_json(data)
    eng.set_input_json(inp)
    got, want = (
        json.loads(vm.execute_entry_point("data.p.r")),
        json.loads(eng.eval_rule_as_json("data.p.r")),
    )
    print(
        f"undefined-propagation probe: interpreter {want}, rvm {got}",
        "OK" if got == want else "-> RVM WRONG",
    )


if __name__ == "__main__":
    rvm_undefined_probe()
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
