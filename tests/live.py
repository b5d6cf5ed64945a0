"""A real broker process for end-to-end tests: ``tollgate serve`` on free ports, demo data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveBroker:
    data_dir: Path
    port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    new_session: bool = False  # its own process group, as a terminal runs it (for signal tests)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> LiveBroker:
        env = {**os.environ, "TOLLGATE_GRPC_PORT": str(self.grpc_port), "RUST_BACKTRACE": "0", **self.env}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "broker.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "broker.cli.main",
                "serve",
                "--demo",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=self.new_session,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited early; see {self.data_dir / 'broker.log'}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"broker not ready after {timeout_s}s; see {self.data_dir / 'broker.log'}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def token(self, *roles: str, subject: str = "gw-test", tenants: list[str] | None = None) -> str:
        args = [
            sys.executable,
            "-m",
            "broker.cli.main",
            "token",
            "issue",
            "--subject",
            subject,
            "--data-dir",
            str(self.data_dir),
        ]
        for r in roles:
            args += ["--role", r]
        for t in tenants or []:
            args += ["--tenant", t]
        return subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
