"""HTTP pre-flight throughput of this checkout against an earlier revision, in one run.

    python benchmarks/preflight_ab.py --base REV [--audit off|on|both] [--rounds 6] [--seconds 3]

These 2-core machines drift by 30 % and more between sessions, so a figure from another day says
little about a change. This script checks ``REV`` out into a temporary git worktree, seeds a
data dir with each checkout's own code (shipped catalog + demo + ``--tenants``), starts both
servers exactly as ``preflight.py`` does (each revision's own ``preflight.py --serve``), and
alternates short runs between them, 32 connections each, for ``--rounds`` rounds. It prints
the medians and each round's new/base ratio (the drift-robust figure). ``REV`` must have
``benchmarks/preflight.py`` with ``seed`` and ``--serve``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from preflight import _line, _request, _summary, _wait_ready, gateway_token, measure  # noqa: E402


def _seed(root: Path, data: Path, tenants: int) -> None:
    """Seed ``data`` with the code of the checkout at ``root`` (its schema, its catalog)."""
    code = (f"import sys; from pathlib import Path; sys.path[:0] = [{str(root)!r}, {str(root / 'benchmarks')!r}]; "
            f"from preflight import seed; seed(Path({str(data)!r}), {tenants})")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tempfile.gettempdir(),
                   env={**os.environ, "PYTHONPATH": str(root)})


def _serve(root: Path, data: Path, port: int, audit: bool) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(root / "benchmarks" / "preflight.py"), "--serve", "--dir", str(data),
           "--port", str(port), *([] if audit else ["--audit-off"])]
    # The working directory is outside both checkouts, so PYTHONPATH alone decides which code runs.
    proc = subprocess.Popen(cmd, cwd=tempfile.gettempdir(),
                            env={**os.environ, "PYTHONPATH": str(root), "RUST_BACKTRACE": "0"})
    _wait_ready(port, proc)
    return proc


def compare(args: argparse.Namespace, work: Path, base_root: Path, audit: bool) -> None:
    from preflight_setup import synthetic_registry, workload

    from broker.config import Settings

    roots = {"base": base_root, "new": ROOT}
    dirs = {name: work / f"{name}-{'on' if audit else 'off'}" for name in roots}
    for name, root in roots.items():
        _seed(root, dirs[name], args.tenants)
    token = gateway_token(dirs["new"])
    keys = Settings(data_dir=dirs["new"]).keys_dir
    shutil.copytree(keys, dirs["base"] / keys.relative_to(dirs["new"]), dirs_exist_ok=True)
    bodies = workload(synthetic_registry(args.tenants), args.distinct)
    requests = [_request("/v1/preflight", json.dumps(b).encode(), token) for b in bodies]
    servers = {name: (args.port + i, _serve(root, dirs[name], args.port + i, audit))
               for i, (name, root) in enumerate(roots.items())}
    runs: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
    try:
        for r in range(args.rounds):
            for name in ("base", "new") if r % 2 == 0 else ("new", "base"):
                port, proc = servers[name]
                runs[name].append(measure(port, proc.pid, requests, args))
    finally:
        for _, proc in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    print(f"audit {'on' if audit else 'off'} ({args.rounds} rounds of {args.seconds:.0f}s, {args.conns} connections)")
    for name in ("base", "new"):
        print(_line(f"  {name}", _summary(name, runs[name])))
    ratios = [n["rps"] / b["rps"] for b, n in zip(runs["base"], runs["new"], strict=True)]
    print(f"  new/base: median of the rounds' ratios {statistics.median(ratios):.3f} "
          f"(per round: {', '.join(f'{x:.2f}' for x in ratios)})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the git revision to compare against")
    ap.add_argument("--audit", choices=("off", "on", "both"), default="both")
    ap.add_argument("--tenants", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--distinct", type=int, default=200)
    ap.add_argument("--port", type=int, default=8795)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base_root = work / "base-checkout"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_root), args.base],
                       check=True, capture_output=True)
        try:
            subject = subprocess.check_output(["git", "-C", str(base_root), "log", "-1", "--format=%h %s"], text=True)
            print(f"base {args.base}: {subject.strip()[:100]}")
            for audit in {"off": (False,), "on": (True,), "both": (False, True)}[args.audit]:
                compare(args, work, base_root, audit)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_root)], check=False,
                           capture_output=True)


if __name__ == "__main__":
    main()
