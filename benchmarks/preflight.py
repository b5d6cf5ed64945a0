"""HTTP pre-flight benchmark: the broker's pre-flight route vs a bare ASGI endpoint, one run.

    python benchmarks/preflight.py [--tenants 10000] [--seconds 8] [--conns 32] [--null-sink]

Starts one uvicorn server (loopback, a child process) serving an app that dispatches ``/bare``
to a trivial ASGI responder and everything else to a broker-shaped FastAPI app (error handlers,
request-context middleware, the decisions router, EdDSA bearer-token verification, the durable
JSON-lines decision log with group commit). A raw asyncio HTTP/1.1 keep-alive client (httpx
costs more CPU per request than the server on this 2-core machine) drives each endpoint in turn
with ``--conns`` connections for ``--seconds`` after a warm-up, and prints p50/p99 latency,
throughput and the ratio of pre-flight to bare throughput.
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
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ISSUER, AUDIENCE = "bench", "tollgate"


# --- server side --------------------------------------------------------------------------------


def build_app(keys_dir: Path, log_path: Path | None, tenants: int) -> Any:
    from fastapi import FastAPI
    from preflight_setup import NullSink, manager_for, synthetic_registry

    from broker.decisions.api import router
    from broker.decisions.filesink import JsonlFileSink
    from broker.decisions.service import DecisionService
    from broker.http.errors import install_error_handlers
    from broker.http.middleware import RequestContextMiddleware
    from broker.security.jwks import KeySet
    from broker.security.keys import ensure_dev_token_key
    from broker.security.tokens import TokenVerifier

    key = ensure_dev_token_key(keys_dir)
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=1_048_576)
    app.include_router(router)
    app.state.token_verifier = TokenVerifier(KeySet(file=key.jwks_path), issuer=ISSUER,
                                             audience=AUDIENCE)
    sink: Any = NullSink() if log_path is None else JsonlFileSink(log_path)
    manager = manager_for(synthetic_registry(tenants))

    @app.on_event("startup")
    async def _warm() -> None:
        manager.serve_on(asyncio.get_running_loop())
        manager.activate(manager.current)  # build the serving thread's engine before traffic

    app.state.decision_service = DecisionService(manager, sink)
    bare_body = b'{"ok":true}'
    bare_headers = [(b"content-type", b"application/json"),
                    (b"content-length", str(len(bare_body)).encode())]

    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/bare":
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 200, "headers": bare_headers})
            await send({"type": "http.response.body", "body": bare_body})
            return
        await app(scope, receive, send)

    return dispatch


def serve(port: int, keys_dir: Path, log_path: Path | None, tenants: int) -> None:
    import uvicorn

    sys.path.insert(0, str(HERE))
    uvicorn.run(build_app(keys_dir, log_path, tenants), host="127.0.0.1", port=port,
                log_level="warning", access_log=False, loop="asyncio", http="h11", lifespan="on")


# --- client side --------------------------------------------------------------------------------


def _request(path: str, body: bytes | None, token: str) -> bytes:
    method = "POST" if body is not None else "GET"
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body or b'')}\r\n\r\n")
    return head.encode() + (body or b"")


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes) -> int:
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def drive(port: int, requests: list[bytes], conns: int, seconds: float,
                warmup: float) -> tuple[list[int], int, float]:
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
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(worker(c) for c in range(conns)))
    return latencies, errors, time.perf_counter() - started


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    import socket

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /bare HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not become ready")


def _report(name: str, lat: list[int], errors: int, elapsed: float) -> float:
    rps = len(lat) / elapsed
    q = sorted(lat)
    print(f"{name:10} {len(lat):7d} req  {rps:8.0f} req/s  p50 {statistics.median(q) / 1e6:6.2f} ms"
          f"  p99 {q[int(len(q) * 0.99)] / 1e6:6.2f} ms  errors {errors}")
    return rps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--distinct", type=int, default=2000, help="distinct pre-flight bodies")
    ap.add_argument("--port", type=int, default=8791)
    ap.add_argument("--null-sink", action="store_true", help="no decision log (audit off)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.port, args.dir / "keys", None if args.null_sink else args.dir / "d.jsonl",
              args.tenants)
        return

    sys.path.insert(0, str(HERE))
    from preflight_setup import synthetic_registry, workload

    from broker.security.keys import ensure_dev_token_key
    from broker.security.tokens import issue_token

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        key = ensure_dev_token_key(work / "keys")
        token = issue_token(key, subject="bench-gw", roles=["gateway"], issuer=ISSUER,
                            audience=AUDIENCE, ttl_s=3600)
        cmd = [sys.executable, __file__, "--serve", "--dir", str(work), "--port", str(args.port),
               "--tenants", str(args.tenants)] + (["--null-sink"] if args.null_sink else [])
        proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
        try:
            _wait_ready(args.port, proc)
            bodies = workload(synthetic_registry(args.tenants), args.distinct)
            pre = [_request("/v1/preflight", json.dumps(b).encode(), token) for b in bodies]
            bare = [_request("/bare", None, token)]
            print(f"server: uvicorn (h11, asyncio loop), 1 process; {args.conns} connections; "
                  f"{args.seconds:.0f}s per endpoint; audit {'off' if args.null_sink else 'on'}")
            lat, err, el = asyncio.run(drive(args.port, pre, args.conns, args.seconds, args.warmup))
            rps_pre = _report("preflight", lat, err, el)
            lat, err, el = asyncio.run(drive(args.port, bare, args.conns, args.seconds, args.warmup))
            rps_bare = _report("bare", lat, err, el)
            print(f"throughput ratio preflight/bare: {rps_pre / rps_bare:.1%}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
