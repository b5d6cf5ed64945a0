"""HTTP pre-flight benchmark against the REAL broker app, one run, two servers.

    python benchmarks/preflight.py [--tenants 10000] [--rounds 5] [--seconds 4] [--conns 32]

Two uvicorn servers (uvloop + httptools, one process each) serve ``broker.app.create_app`` on
copies of a data dir seeded with the shipped catalog + demo data + N synthetic tenants: one
with the audit log on (its default: a worker process), one with audit off; each also serves a
bare ASGI endpoint ``/bare`` on the same stack. A raw asyncio HTTP/1.1 keep-alive client drives
``--conns`` connections, alternating short runs between pre-flight (audit on), pre-flight
(audit off) and bare for ``--rounds`` rounds, so drift on this shared machine hits all three
alike, and prints the medians of the rounds and the ratios the issues ask for: pre-flight vs
bare (goal >= 70 %) and audit on vs off (goal >= 85 %), both as the ratio of the medians and as
the median of each round's own ratio. "Audit off" swaps the decision sink
for a counter after start-up; everything else (auth, validation, engine, cache) is identical.
Each run also reports the CPU time per request of the server, its audit worker process and the
client, and the ceilings those imply (the server loop is one thread; all three share the cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))


def seed(data_dir: Path, tenants: int) -> None:
    """Shipped catalog + demo as revision 1, then the synthetic tenants as one more revision."""
    from preflight_setup import synthetic_registry

    from broker.registry.service import RegistryService
    from broker.storage.factory import create_store

    store = create_store(f"sqlite:///{data_dir / 'tollgate.db'}")
    service = RegistryService(store)
    service.bootstrap_shipped(include_demo=True)
    service.import_registry(synthetic_registry(tenants), "bench", f"{tenants} synthetic tenants")
    store.close()


def serve(port: int, data_dir: Path, audit: bool) -> None:
    import uvicorn
    from preflight_setup import NullSink

    from broker.app import create_app
    from broker.config import Settings

    app = create_app(Settings(data_dir=data_dir, include_demo=True, log_level="warning",
                              # one token drives all 32 connections: lift its per-principal
                              # rate limit (still checked on every request) above the load
                              rate_limit_principal_rps=1e9, rate_limit_principal_burst=1e9))
    bare_body = b'{"ok":true}'
    bare_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(bare_body)).encode())]
    swapped = audit
    sized_bodies: dict[int, tuple[bytes, list[tuple[bytes, bytes]]]] = {}

    def sized(n: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        if n not in sized_bodies:
            body = b'{"pad":"' + b"x" * max(0, n - 10) + b'"}'
            sized_bodies[n] = (body, [(b"content-type", b"application/json"),
                                      (b"content-length", str(len(body)).encode())])
        return sized_bodies[n]

    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        nonlocal swapped
        if scope["type"] == "http":
            if not swapped:
                app.state.decision_service.sink = NullSink()
                swapped = True
            if scope["path"] == "/bare":
                while (await receive()).get("more_body"):
                    pass
                body, headers = bare_body, bare_headers
                if scope["query_string"].startswith(b"n="):  # "bare, sized": n bytes of JSON
                    body, headers = sized(int(scope["query_string"][2:]))
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    uvicorn.run(
        dispatch,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        lifespan="on",
    )


# --- client -------------------------------------------------------------------------------------


def _request(path: str, body: bytes | None, token: str) -> bytes:
    method = "POST" if body is not None else "GET"
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body or b'')}\r\n\r\n"
    )
    return head.encode() + (body or b"")


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes) -> int:
    return (await _exchange_sized(reader, writer, req))[0]


async def _exchange_sized(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes,
                          ) -> tuple[int, int]:
    """One request on a keep-alive connection: (status, body length)."""
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status, length


async def answer_lengths(port: int, requests: list[bytes]) -> list[int]:
    """The body length of each request's answer (for the "bare, sized" mode)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lengths = [(await _exchange_sized(reader, writer, req))[1] for req in requests]
    writer.close()
    return lengths


class CpuMeter:
    """CPU time spent during the measured part of a run, per process: the server's main
    process, its children (the audit worker) and this client. On a 2-core machine they share
    the cores, so "where does a request's CPU go" explains the throughput ratios."""

    def __init__(self, server_pid: int) -> None:
        import psutil

        self._server = psutil.Process(server_pid)
        self._client = psutil.Process()
        self._start: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.used: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _now(self) -> tuple[float, float, float]:
        def busy(p: Any) -> float:
            t = p.cpu_times()
            return float(t.user + t.system)

        workers = sum(busy(c) for c in self._server.children(recursive=True))
        return busy(self._server), workers, busy(self._client)

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> None:
        a, b = self._start, self._now()
        self.used = (b[0] - a[0], b[1] - a[1], b[2] - a[2])


async def drive(
    port: int, requests: list[bytes], conns: int, seconds: float, warmup: float,
    meter: CpuMeter | None = None,
) -> tuple[list[int], int, float]:
    latencies: list[int] = []
    errors = 0
    measuring = False
    stop_at = 0.0

    async def worker(offset: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        while time.perf_counter() < stop_at:
            req = requests[i % len(requests)]
            i += conns
            t = time.perf_counter_ns()
            status = await _exchange(reader, writer, req)
            if measuring:
                latencies.append(time.perf_counter_ns() - t)
                errors += status != 200
        writer.close()

    stop_at = time.perf_counter() + warmup
    await asyncio.gather(*(worker(c) for c in range(conns)))
    measuring = True
    if meter is not None:
        meter.start()
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(worker(c) for c in range(conns)))
    elapsed = time.perf_counter() - started
    if meter is not None:
        meter.stop()
    return latencies, errors, elapsed


def gateway_token(data_dir: Path) -> str:
    """A gateway token signed by the development key in ``data_dir`` (created if missing)."""
    from broker.config import Settings
    from broker.security.keys import ensure_dev_token_key
    from broker.security.tokens import issue_token

    settings = Settings(data_dir=data_dir)
    key = ensure_dev_token_key(settings.keys_dir)
    return issue_token(key, subject="bench-gw", roles=["gateway"], issuer=settings.jwt_issuer,
                       audience=settings.jwt_audience, ttl_s=3600)


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    import socket

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("server did not become ready")


_CPU = ("cpu_server", "cpu_worker", "cpu_client")  # CPU µs per request, per process


def _stats(lat: list[int], errors: int, elapsed: float, meter: CpuMeter | None = None) -> dict[str, float]:
    q = sorted(lat)
    s = {
        "rps": len(lat) / elapsed,
        "p50": statistics.median(q) / 1e6,
        "p99": q[int(len(q) * 0.99)] / 1e6,
        "n": len(lat),
        "errors": errors,
    }
    if meter is not None and lat:
        s.update({k: used * 1e6 / len(lat) for k, used in zip(_CPU, meter.used, strict=True)})
    return s


def _line(name: str, s: dict[str, float]) -> str:
    line = (
        f"{name:22} {s['n']:7.0f} req {s['rps']:8.0f} req/s  p50 {s['p50']:6.2f} ms  "
        f"p99 {s['p99']:6.2f} ms  errors {s['errors']:.0f}"
    )
    if _CPU[0] in s:
        line += (f"  | CPU us/req: server {s['cpu_server']:5.1f}, audit worker {s['cpu_worker']:5.1f}, "
                 f"client {s['cpu_client']:5.1f}")
    return line


def measure(port: int, pid: int, requests: list[bytes], args: argparse.Namespace) -> dict[str, float]:
    """One measured run against the server ``pid`` listening on ``port``."""
    meter = CpuMeter(pid)
    lat, errors, elapsed = asyncio.run(drive(port, requests, args.conns, args.seconds, args.warmup, meter))
    return _stats(lat, errors, elapsed, meter)


def start_server(args: argparse.Namespace, work: Path, audit: bool) -> tuple[int, subprocess.Popen[bytes]]:
    data = work / ("audit-on" if audit else "audit-off")
    if not data.exists():
        import shutil

        shutil.copytree(work / "seed", data)
    port = args.port + (0 if audit else 1)
    cmd = [sys.executable, __file__, "--serve", "--dir", str(data), "--port", str(port)] + (
        [] if audit else ["--audit-off"]
    )
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT), "RUST_BACKTRACE": "0"})
    _wait_ready(port, proc)
    return port, proc


def run_rounds(args: argparse.Namespace, work: Path, pre: list[bytes], bare: list[bytes],
               sized: Callable[[list[int]], list[bytes]]) -> dict[str, list[dict[str, float]]]:
    """Both servers up at once; short runs alternate between them, ``--rounds`` times, so that
    the machine's drift (other load, CPU steal) hits every mode alike. ``sized`` turns the
    pre-flight answers' lengths into the "bare, sized" requests."""
    servers = {audit: start_server(args, work, audit) for audit in (True, False)}
    try:
        sized_reqs = sized(asyncio.run(answer_lengths(servers[False][0], pre)))
        runs: dict[str, list[dict[str, float]]] = {"on": [], "off": [], "bare": [], "sized": []}
        for r in range(args.rounds):
            order = [("on", servers[True], pre), ("off", servers[False], pre),
                     ("bare", servers[r % 2 == 0], bare), ("sized", servers[r % 2 == 1], sized_reqs)]
            for name, (port, proc), reqs in order if r % 2 == 0 else order[::-1]:
                runs[name].append(measure(port, proc.pid, reqs, args))
        return runs
    finally:
        for _, proc in servers.values():
            proc.terminate()
            proc.wait(timeout=30)


def _summary(name: str, runs: list[dict[str, float]]) -> dict[str, float]:
    s = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99", *_CPU) if k in runs[0]}
    return {**s, "n": sum(r["n"] for r in runs), "errors": sum(r["errors"] for r in runs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--distinct", type=int, default=200, help="distinct pre-flight bodies (cache hits after warm-up)")
    ap.add_argument("--port", type=int, default=8791)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--audit-off", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.port, args.dir, not args.audit_off)
        return

    from preflight_setup import synthetic_registry, workload

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        seed(work / "seed", args.tenants)
        print(f"seeded shipped catalog + demo + {args.tenants} tenants in {time.perf_counter() - t0:.1f}s")
        token = gateway_token(work / "seed")  # its key is copied into each mode's data dir
        bodies = workload(synthetic_registry(args.tenants), args.distinct)
        pre = [_request("/v1/preflight", json.dumps(b).encode(), token) for b in bodies]
        bare = [_request("/bare", None, token)]
        print(
            f"server: uvicorn (httptools, uvloop), 1 process, real broker app; {args.conns} connections; "
            f"{args.rounds} rounds x {args.seconds:.0f}s per mode; {args.distinct} distinct pre-flight bodies"
        )
        runs = run_rounds(args, work, pre, bare, lambda lengths: [
            _request(f"/bare?n={n}", json.dumps(b).encode(), token) for b, n in zip(bodies, lengths, strict=True)])
        on, off, bare_s, sized_s = (_summary(k, runs[k]) for k in ("on", "off", "bare", "sized"))
        print(f"medians over {args.rounds} rounds of {args.seconds:.0f}s per mode (p50/p99: median of the rounds')")
        print(_line("preflight (audit on)", on))
        print(_line("preflight (audit off)", off))
        print(_line("bare", bare_s))
        print(_line("bare, sized", sized_s))
        print("throughput ratios: of the medians above | median of the rounds' own ratios (each round "
              "runs all four modes back to back, so its ratio is the one least skewed by drift)")
        medians = {"on": on, "off": off, "bare": bare_s, "sized": sized_s}
        for label, a, b in (("preflight/bare (audit on): ", "on", "bare"),
                            ("preflight/bare (audit off):", "off", "bare"),
                            ("audit on/off:              ", "on", "off"),
                            ("preflight (off)/bare sized:", "off", "sized"),
                            ("bare sized/bare:           ", "sized", "bare")):
            rounds = [x["rps"] / y["rps"] for x, y in zip(runs[a], runs[b], strict=True)]
            print(f"  {label} {medians[a]['rps'] / medians[b]['rps']:6.1%} | {statistics.median(rounds):6.1%}"
                  f"  (per round: {', '.join(f'{r:.0%}' for r in rounds)})")
        _cpu_budget(medians)


def _cpu_budget(medians: dict[str, dict[str, float]]) -> None:
    """The throughput ceilings the measured CPU costs imply: the server's event loop is one
    thread (one core at most), and server, audit worker and client share this machine's cores."""
    cores = os.cpu_count() or 1
    print(f"CPU ceilings ({cores} cores shared by server, audit worker and client; medians above):")
    for label, key in (("audit on", "on"), ("audit off", "off"), ("bare", "bare")):
        s = medians[key]
        total = s["cpu_server"] + s["cpu_worker"] + s["cpu_client"]
        print(f"  {label:9}  all processes {total:5.1f} us/req -> {cores * 1e6 / total:8,.0f} req/s, every core busy;"
              f" server loop {s['cpu_server']:5.1f} us/req -> {1e6 / s['cpu_server']:8,.0f} req/s;"
              f" measured {s['rps']:8,.0f}")


if __name__ == "__main__":
    main()
