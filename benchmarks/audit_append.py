"""Durable appends per second with group commit.

Many concurrent callers (threads, like request handlers in a thread pool, and asyncio tasks)
each call ``append`` and wait for their own fsync'd acknowledgement, on the in-process log and,
for asyncio, on the broker's default: the log in a worker process (broker.audit.process). Prints the median of
several runs. Usage: python benchmarks/audit_append.py [records_per_run] [runs]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broker.audit.log import AuditLog
from broker.audit.process import AuditProcess
from broker.audit.records import decision_record


def record(i: int) -> dict[str, object]:
    return decision_record(
        decision_id=f"d-{i}", input={"tenant": "acme", "model": "gpt-x", "region": "eu-west-1",
                                     "data_classes": ["pii"], "purpose": "support"},
        result={"decision": "allow", "reason_codes": ["REGION_OK", "MODEL_APPROVED"]},
        policy_revision="p42", registry_revision=17, engine="regorus",
        caller={"subject": "gateway-1", "roles": ["gateway"]}, tenant="acme", model="gpt-x")


def run_threads(total: int, threads: int) -> float:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        log = AuditLog(Path(tmp), Ed25519PrivateKey.generate(), "bench.example/audit")
        log.start()
        per = total // threads
        recs = [record(i) for i in range(per)]

        def worker() -> None:
            for r in recs:
                log.append(r)

        ts = [threading.Thread(target=worker) for _ in range(threads)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        elapsed = time.perf_counter() - t0
        log.close()
        return per * threads / elapsed


def run_async(total: int, tasks: int, worker_process: bool = False) -> float:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        make = AuditProcess if worker_process else AuditLog
        log = make(Path(tmp), Ed25519PrivateKey.generate(), "bench.example/audit")
        log.start()
        per = total // tasks
        recs = [record(i) for i in range(per)]

        async def worker() -> None:
            for r in recs:
                await log.append_async(r)

        async def main() -> float:
            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(tasks)))
            return time.perf_counter() - t0

        elapsed = asyncio.run(main())
        log.close()
        return per * tasks / elapsed


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print(f"cpus={os.cpu_count()} records/run={total} runs={runs}")
    configs: list[tuple[str, Callable[[int, int], float], int]] = [
        ("threads", run_threads, 64), ("threads", run_threads, 256), ("asyncio", run_async, 256),
        # the broker's default: the log in a worker process, appends over its socket
        ("asyncio+worker process", partial(run_async, worker_process=True), 256)]
    for label, fn, width in configs:
        rates = [fn(total, width) for _ in range(runs)]
        print(f"{label:23s} x{width}: median {statistics.median(rates):,.0f} durable appends/s "
              f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})")


if __name__ == "__main__":
    main()
