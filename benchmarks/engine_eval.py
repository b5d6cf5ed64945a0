"""Per-decision latency of the engine adapters on the synthetic routing workload.

1,000 models, 10,000 tenants, 100 regions (benchmarks/engine_workload.py). Times the adapter's
``evaluate`` (dict in → dict out, JSON conversion and fencing included). regopy runs on a small
sample: it costs milliseconds per decision here. Also reports regorus/regopy agreement on that
sample (the workload's timestamps use a ``Z`` suffix, which rego-cpp cannot parse).
Run: .venv/bin/python benchmarks/engine_eval.py [n_regorus] [n_regopy]
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.pop("RUST_BACKTRACE", None)

from engine_workload import POLICY, make_data, make_inputs

from broker.engine.factory import create_engine
from broker.engine.interface import PolicyBundle, PolicyEngine


def _time(engine: PolicyEngine, inputs: list[dict[str, Any]]) -> tuple[list[float], list[Any]]:
    times, outs = [], []
    for inp in inputs:
        t0 = time.perf_counter_ns()
        outs.append(engine.evaluate(inp))
        times.append((time.perf_counter_ns() - t0) / 1000)
    return times, outs


def _report(label: str, times: list[float]) -> None:
    s = sorted(times)
    p99 = s[max(0, int(len(s) * 0.99) - 1)]
    print(f"{label:34} n={len(s):6}  median {statistics.median(s):9.1f} µs  p99 {p99:9.1f} µs")


def main(n: int = 10_000, n_slow: int = 50) -> None:
    data = make_data()
    inputs = make_inputs(data, n)
    bundle = PolicyBundle({"routing.rego": POLICY}, data, "bench", 1)

    engine = create_engine("regorus")
    t0 = time.perf_counter()
    engine.load(bundle)
    print(f"regorus {engine.version}: load {1000 * (time.perf_counter() - t0):.0f} ms")
    _time(engine, inputs[:200])  # warm-up
    _time(engine, inputs)  # pass 1
    times, reference = _time(engine, inputs)
    _report("regorus evaluate (1 thread)", times)

    per_thread: list[list[float]] = [[], []]

    def worker(i: int) -> None:
        per_thread[i] = _time(engine, inputs[i::2])[0]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    _report("regorus evaluate (2 threads)", per_thread[0] + per_thread[1])
    print(f"{'':34} 2 threads: {n / wall:,.0f} decisions/s (1 thread: {1e6 / statistics.mean(times):,.0f}/s)")

    if n_slow:
        slow = create_engine("regopy")
        t0 = time.perf_counter()
        slow.load(bundle)
        print(f"regopy {slow.version}: load {1000 * (time.perf_counter() - t0):.0f} ms (incl. crash probe)")
        sample = inputs[:n_slow]
        slow_times, slow_out = _time(slow, sample)
        _report("regopy evaluate (bundle)", slow_times)
        agree = sum(a == b for a, b in zip(slow_out, reference[:n_slow], strict=True))
        print(f"{'':34} agreement with regorus: {agree}/{n_slow} (Z timestamps; see conformance)")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
