"""Soak: pre-flights at 80% of the measured peak for N minutes against a real broker.

One command (prints its figures, exit status 1 when a criterion fails)::

    .venv/bin/python -m tests.hardening.soak --minutes 10

Steps: start ``tollgate serve --demo`` (audit logging always on) on free ports; measure the peak
pre-flight throughput with closed-loop clients for ``--peak-s`` seconds; then drive an open-loop
(paced) load at ``--fraction`` of that peak for ``--minutes``. Criteria: no error response and no
transport error, the last minute's p99 within 2x the first minute's (+1 ms for timer noise), and
the broker's RSS growth from the end of the first minute to the end ≤ 10%.

The load generator runs in several processes so the client's GIL is not the bottleneck being
measured; the peak is therefore "what this machine sustains with the generator on it".
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.hardening.conftest import ALLOWED, live_minter
from tests.live import LiveBroker

QUERIES = [
    ALLOWED,
    {"tenant": "demo-de-eu-resident", "region": "aws-bedrock:eu", "model": "anthropic.claude-opus-4-7"},
]


def _worker(url: str, token: str, seconds: float, rate: float | None, tasks: int,
            out: Any) -> None:
    """Run for ``seconds``; closed loop when ``rate`` is None, else paced at ``rate`` req/s.
    Puts ``{minute: [latencies]}`` and error counts on ``out``."""

    async def main() -> dict[str, Any]:
        per_minute: dict[int, list[float]] = {}
        errors: list[str] = []
        start = time.perf_counter()
        limits = httpx.Limits(max_connections=tasks, max_keepalive_connections=tasks)
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:

            async def one(k: int) -> None:
                i = 0
                while True:
                    if rate:  # open loop: request number i*tasks+k is due at that slot
                        due = start + (i * tasks + k) / rate
                        delay = due - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    now = time.perf_counter()
                    if now - start >= seconds:
                        return
                    t0 = time.perf_counter()
                    try:
                        r = await client.post("/v1/preflight", json=QUERIES[i % 2], headers=headers)
                        if r.status_code != 200:
                            errors.append(f"{r.status_code} {r.text[:120]}")
                    except httpx.HTTPError as exc:
                        errors.append(repr(exc)[:120])
                    per_minute.setdefault(int((t0 - start) // 60), []).append(time.perf_counter() - t0)
                    i += 1

            await asyncio.gather(*(one(k) for k in range(tasks)))
        return {"per_minute": per_minute, "errors": errors}

    out.put(asyncio.run(main()))


def drive(url: str, token: str, seconds: float, rate: float | None, procs: int, tasks: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    per_proc_rate = rate / procs if rate else None
    workers = [ctx.Process(target=_worker, args=(url, token, seconds, per_proc_rate, tasks, queue))
               for _ in range(procs)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join()
    merged: dict[int, list[float]] = {}
    errors: list[str] = []
    for res in results:
        for minute, lat in res["per_minute"].items():
            merged.setdefault(minute, []).extend(lat)
        errors += res["errors"]
    return {"per_minute": merged, "errors": errors, "requests": sum(len(v) for v in merged.values())}


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 100 else max(values)


def run(minutes: float, fraction: float, peak_s: float, procs: int, tasks: int) -> int:
    data = Path(tempfile.mkdtemp(prefix="tollgate-soak-"))
    broker = LiveBroker(data).start()
    try:
        token = live_minter(broker).token("gateway", subject="soak")
        assert broker.proc is not None
        server = psutil.Process(broker.proc.pid)
        httpx.post(broker.url + "/v1/preflight", json=ALLOWED, headers={"authorization": f"Bearer {token}"})

        peak = drive(broker.url, token, peak_s, None, procs, tasks)
        peak_rps = peak["requests"] / peak_s
        target = fraction * peak_rps
        print(f"peak: {peak_rps:.0f} req/s closed-loop ({procs}x{tasks} clients, {peak_s:.0f}s, "
              f"{len(peak['errors'])} errors); soak target {target:.0f} req/s for {minutes:g} min", flush=True)

        rss: list[tuple[float, int]] = []
        stop = threading.Event()

        def sample() -> None:
            t0 = time.monotonic()
            while not stop.is_set():
                rss.append((time.monotonic() - t0, int(server.memory_info().rss)))
                stop.wait(5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        soak = drive(broker.url, token, minutes * 60, target, procs, tasks)
        stop.set()
        sampler.join()
        rss.append((minutes * 60, int(server.memory_info().rss)))
    finally:
        broker.stop()

    minutes_seen = sorted(soak["per_minute"])
    first, last = soak["per_minute"][minutes_seen[0]], soak["per_minute"][minutes_seen[-1]]
    for m in minutes_seen:
        lat = soak["per_minute"][m]
        print(f"  minute {m + 1:>2}: {len(lat) / 60:7.0f} req/s  p50 {statistics.median(lat) * 1e3:6.2f} ms  "
              f"p99 {p99(lat) * 1e3:6.2f} ms")
    rss_after_warmup = next((v for t, v in rss if t >= 60), rss[0][1])
    growth = (rss[-1][1] - rss_after_warmup) / rss_after_warmup
    print(f"requests {soak['requests']}, errors {len(soak['errors'])}, achieved "
          f"{soak['requests'] / (minutes * 60):.0f} req/s")
    print(f"p99 first minute {p99(first) * 1e3:.2f} ms, last minute {p99(last) * 1e3:.2f} ms")
    print(f"broker RSS start {rss[0][1] / 2**20:.1f} MiB, after minute 1 {rss_after_warmup / 2**20:.1f} MiB, "
          f"end {rss[-1][1] / 2**20:.1f} MiB (growth {growth * 100:+.1f}% after warm-up)")
    ok = True
    if soak["errors"]:
        print("FAIL: errors, e.g.", soak["errors"][:5])
        ok = False
    if p99(last) > 2 * p99(first) + 1e-3:
        print("FAIL: p99 not stable")
        ok = False
    if growth > 0.10:
        print("FAIL: RSS grew more than 10%")
        ok = False
    print("SOAK OK" if ok else "SOAK FAILED")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--fraction", type=float, default=0.8)
    p.add_argument("--peak-s", type=float, default=20.0)
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--tasks", type=int, default=16, help="concurrent requests per process")
    a = p.parse_args(argv)
    return run(a.minutes, a.fraction, a.peak_s, a.procs, a.tasks)


if __name__ == "__main__":
    sys.exit(main())
