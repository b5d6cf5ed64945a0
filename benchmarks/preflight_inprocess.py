"""In-process pre-flight speed: cache hit and cache miss medians (no HTTP, no audit I/O).

    python benchmarks/preflight_inprocess.py [--tenants 10000] [--n 20000]

Targets (issue 3): cache hit <= 5 us, cache miss (embedded engine, shipped pack, shipped catalog
plus 10,000 tenants) <= 100 us median. "decide" figures are the whole DecisionService.decide call
(input build, snapshot read, cache/engine, decision id, audit record built and handed to a
null sink); "cache.get" and "engine" isolate the two parts.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time

from preflight_setup import NullSink, manager_for, synthetic_registry, workload

from broker.decisions.encoded import decision_record
from broker.decisions.model import PreflightQuery
from broker.decisions.service import DecisionService, engine_input
from broker.security.principal import Principal


def _median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def _p99_us(samples: list[int]) -> float:
    return sorted(samples)[int(len(samples) * 0.99)] / 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=20_000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    reg = synthetic_registry(args.tenants)
    t1 = time.perf_counter()
    manager = manager_for(reg, cache_size=max(args.n * 2, 1000))
    t2 = time.perf_counter()
    print(f"catalog: {len(reg.models)} models, {len(reg.tenants)} tenants, {len(reg.regions)} "
          f"regions, {len(reg.scopes)} scopes; registry build {t1 - t0:.2f}s, "
          f"snapshot build (datadoc + engine load + probe) {t2 - t1:.2f}s")
    principal = Principal(subject="bench", roles=frozenset({"gateway"}))
    service = DecisionService(manager, NullSink())
    queries = [PreflightQuery(b["tenant"], b["region"], b["model"]) for b in workload(reg, args.n)]
    snap = manager.current
    now = time.time_ns()

    gc.disable()  # the medians are about the code path, not collector pauses
    engine: list[int] = []
    for q in queries:  # raw engine + output validation
        inp = engine_input(q, now)
        s = time.perf_counter_ns()
        snap.evaluate(inp)
        engine.append(time.perf_counter_ns() - s)

    snap.cache.clear()
    miss: list[int] = []
    distinct = list(dict.fromkeys(queries))
    for q in distinct:  # first sight of each key: engine evaluation through the service
        s = time.perf_counter_ns()
        d = service.decide(q, principal)
        miss.append(time.perf_counter_ns() - s)
        assert not d.cached
    first: list[int] = []
    for q in distinct:  # the first hit of an entry also encodes its cached record once
        s = time.perf_counter_ns()
        d = service.decide(q, principal)
        first.append(time.perf_counter_ns() - s)
        assert d.cached
    hit: list[int] = []
    for q in distinct:  # steady state: what a gateway repeating its questions sees
        s = time.perf_counter_ns()
        d = service.decide(q, principal)
        hit.append(time.perf_counter_ns() - s)
        assert d.cached
    get: list[int] = []
    for q in distinct:
        key = q.cache_key()
        s = time.perf_counter_ns()
        snap.cache.get(key, now)
        get.append(time.perf_counter_ns() - s)
    record: list[int] = []
    decisions = [service.decide(q, principal) for q in distinct]
    for d in decisions:  # the audit record alone (part of every decide above)
        s = time.perf_counter_ns()
        decision_record(d, principal, d.evaluated_at_ns)
        record.append(time.perf_counter_ns() - s)
    gc.enable()

    print(f"engine.evaluate         median {_median_us(engine):7.1f} us  p99 {_p99_us(engine):7.1f} us"
          f"  (n={len(engine)})")
    print(f"decide, cache miss      median {_median_us(miss):7.1f} us  p99 {_p99_us(miss):7.1f} us"
          f"  (n={len(miss)})")
    print(f"decide, first cache hit median {_median_us(first):7.1f} us  p99 {_p99_us(first):7.1f} us")
    print(f"decide, cache hit       median {_median_us(hit):7.1f} us  p99 {_p99_us(hit):7.1f} us")
    print(f"cache.get alone         median {_median_us(get):7.2f} us")
    print(f"audit record alone      median {_median_us(record):7.2f} us  (built in every decide)")
    try:
        import psutil

        print(f"RSS {psutil.Process(os.getpid()).memory_info().rss / 2**20:.0f} MiB")
    except ImportError:
        pass
    manager.close()


if __name__ == "__main__":
    main()
