"""Run regopy queries in a child process so a native crash cannot take the broker down."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

_CHILD = Path(__file__).with_name("_regopy_child.py")


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


def run_queries(
    modules: dict[str, str],
    data: Any,
    queries: list[dict[str, Any]],
    *,
    build: str | None = None,
    timeout: float = 300.0,
) -> list[dict[str, Any]]:
    """One row per query: ``{"path", "ok", "text"}``, or ``{"path", "crash": reason}``.

    After a crash the remaining queries are retried in a fresh child, so one bad test does not
    hide the others.
    """
    rows: list[dict[str, Any]] = []
    pending = list(queries)
    while pending:
        job = json.dumps({"modules": modules, "data": data, "queries": pending, "build": build})
        # Args are fixed (our interpreter, our file); no shell.
        proc = subprocess.run(
            [sys.executable, str(_CHILD)],
            input=job,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        done = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        finished = [r for r in done if "path" in r]
        rows.extend(finished)
        if any(r.get("done") for r in done):
            break
        reason = _describe(proc.returncode)
        if proc.stderr.strip():
            reason += ": " + proc.stderr.strip().splitlines()[-1][:300]
        if len(finished) >= len(pending):
            break
        crashed = pending[len(finished)]
        rows.append({"path": crashed["path"], "crash": reason})
        pending = pending[len(finished) + 1 :]
        build = None  # a crash during build is attributed to the first query; don't repeat it
    return rows
