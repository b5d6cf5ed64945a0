"""Default policy pack: decision latency and load cost (regorus, the default engine).

    python benchmarks/policy_eval.py [--decisions 5000]

1. Shipped catalog + demo set + 10,000 SYNTHETIC tenants: median / p90 / p99 µs per decision
   through ``PolicyEngine.evaluate`` (Python dict in, dict out), inputs sampled from the matrix.
2. SYNTHETIC 1,000 models x 100,000 tenants (clones of shipped entities with new ids): data-doc
   compile time, engine load time, RSS after load, and the median µs per decision, to show that
   latency stays flat as the registry grows.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
from typing import Any

import psutil

from broker.engine.factory import create_engine
from broker.engine.interface import PolicyBundle
from broker.policy.datadoc import compile_data_document
from broker.policy.matrix import DecisionMatrix
from broker.policy.pack import load_pack
from registry.io import load_shipped
from registry.model import Registry

os.environ.setdefault("RUST_BACKTRACE", "0")
NOW = 1_795_305_600 * 10**9  # 2026-11-22T00:00:00Z


def synthetic(base: Registry, tenants: int, models: int | None = None) -> Registry:
    """``base`` plus clones: tenants ``syn-t-N`` and (optionally) models ``syn-m-N`` (labelled synthetic)."""
    rng = random.Random(42)
    proto_t = list(base.tenants.values())
    new_t = dict(base.tenants)
    for i in range(tenants):
        t = rng.choice(proto_t)
        new_t[f"syn-t-{i}"] = t.model_copy(update={"id": f"syn-t-{i}", "name": f"synthetic tenant {i}"})
    new_m = dict(base.models)
    if models is not None:
        proto_m = list(base.models.values())
        for i in range(max(0, models - len(base.models))):
            m = rng.choice(proto_m)
            new_m[f"syn-m-{i}"] = m.model_copy(update={"id": f"syn-m-{i}", "name": f"synthetic model {i}"})
    return base.model_copy(update={"tenants": new_t, "models": new_m})


def measure(reg: Registry, label: str, decisions: int) -> dict[str, Any]:
    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    doc = compile_data_document(reg)
    compile_s = time.perf_counter() - t0
    engine = create_engine("regorus")
    t0 = time.perf_counter()
    engine.load(PolicyBundle(load_pack(), doc, "bench", 0))
    load_s = time.perf_counter() - t0
    del doc
    gc.collect()
    rss = proc.memory_info().rss
    # Inputs from the decision matrix over the shipped tenants/models plus some synthetic ones.
    inputs = DecisionMatrix.of(reg, NOW).sample(decisions, seed=1)
    for item in inputs[:200]:
        engine.evaluate(item)
    times = []
    for item in inputs:
        t0 = time.perf_counter()
        engine.evaluate(item)
        times.append(time.perf_counter() - t0)
    times.sort()
    out = {
        "label": label,
        "models": len(reg.models),
        "tenants": len(reg.tenants),
        "compile_ms": compile_s * 1e3,
        "load_ms": load_s * 1e3,
        "rss_mb": rss / 2**20,
        "rss_delta_mb": (rss - rss0) / 2**20,
        "median_us": statistics.median(times) * 1e6,
        "p90_us": times[int(0.9 * len(times))] * 1e6,
        "p99_us": times[int(0.99 * len(times))] * 1e6,
        "n": len(times),
    }
    engine.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=5000)
    args = parser.parse_args()
    shipped = load_shipped(include_demo=True)
    rows = [
        measure(shipped, "shipped catalog + demo", args.decisions),
        measure(synthetic(shipped, 10_000), "shipped + 10,000 SYNTHETIC tenants", args.decisions),
        measure(synthetic(shipped, 100_000, 1_000), "SYNTHETIC 1,000 models x 100,000 tenants", args.decisions),
    ]
    print(f"{'registry':45} {'models':>7} {'tenants':>8} {'compile ms':>10} {'load ms':>8} "
          f"{'RSS MB':>7} {'ΔRSS MB':>8} {'median µs':>9} {'p90 µs':>7} {'p99 µs':>7} {'n':>6}")
    for r in rows:
        print(f"{r['label']:45} {r['models']:>7} {r['tenants']:>8} {r['compile_ms']:>10.0f} {r['load_ms']:>8.0f} "
              f"{r['rss_mb']:>7.0f} {r['rss_delta_mb']:>8.0f} {r['median_us']:>9.0f} {r['p90_us']:>7.0f} "
              f"{r['p99_us']:>7.0f} {r['n']:>6}")


if __name__ == "__main__":
    main()
