"""Browser fixtures: Debian Chromium driven by Playwright, and brokers to point it at.

Chromium comes from Debian (``/usr/bin/chromium``); when it is missing and we are root, the
session installs it with apt (the project's own setup, so CI and fresh machines need no manual
step). Playwright only drives it (``executable_path``): ``playwright install`` is never run.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "console"


def _install_chromium() -> str | None:
    """Install Debian's chromium if missing; return a reason to skip, or None when it is there."""
    if CHROMIUM.exists():
        return None
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"{CHROMIUM} is missing and we are not root (apt-get install chromium chromium-driver)"
    if shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and apt-get is not available"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium", "chromium-driver"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            return f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}"
    return None if CHROMIUM.exists() else f"apt installed chromium but {CHROMIUM} is still missing"


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    reason = _install_chromium()
    if reason:
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (pip install playwright) is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 950}, accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # A CSP violation is only a console message; it would mean some feature silently does nothing.
    pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    pg.set_default_timeout(20_000)
    yield pg
    context.close()
    assert not errors, f"uncaught JavaScript errors or CSP violations: {errors}"


@pytest.fixture(scope="package")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None,
              thread: threading.Thread | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        if thread is not None and not thread.is_alive():
            raise RuntimeError("the broker failed to start (see its log above)")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class ThreadServer:
    """uvicorn serving an ASGI app on a background thread (for apps built in the test process)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        base = f"http://127.0.0.1:{self.port}"
        wait_http(f"{base}/console/", thread=self.thread)
        return base

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="package")
def console_only() -> Iterator[str]:
    """Just the console router: enough for the in-browser crypto checks."""
    from fastapi import FastAPI

    from broker.console import router

    app = FastAPI()
    app.include_router(router)
    with ThreadServer(app) as base:
        yield base


@dataclass
class Broker:
    base: str
    data_dir: Path
    real: bool  # True: `tollgate serve --demo`; False: tests/console/devapp.py

    def token(self, role: str, subject: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "broker.cli.main", "token", "issue", "--role", role, "--subject", subject,
             "--ttl", "2h", "--data-dir", str(self.data_dir)],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
        )
        return out.stdout.strip()


def _serves_console(base: str) -> bool:
    try:
        return httpx.get(f"{base}/console/", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="package")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The real broker in a subprocess when it mounts the console; otherwise the dev app."""
    data_dir = tmp_path_factory.mktemp("broker-data")
    port = free_port()
    log = (data_dir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "broker.cli.main", "serve", "--demo", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", timeout=90, proc=proc)
        real = _serves_console(base)
    except RuntimeError:
        real = False
    if real:
        try:
            yield Broker(base, data_dir, real=True)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.close()
        return
    proc.terminate()
    proc.wait(timeout=20)
    log.close()
    from tests.console.devapp import create_dev_app

    dev_dir = tmp_path_factory.mktemp("dev-broker-data")
    with ThreadServer(create_dev_app(dev_dir)) as dev_base:
        yield Broker(dev_base, dev_dir, real=False)


def sign_in(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/console/#/signin")
    page.get_by_label("Bearer token (JWT)").fill(token)
    page.get_by_role("button", name="Sign in").click()
    # Wait for *this* token's subject: after an earlier sign-in the header already shows one,
    # and reading the navigation before it re-renders sees the previous principal's pages.
    payload = token.split(".")[1]
    subject = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
    page.wait_for_function("s => document.querySelector('#who .subject')?.textContent === s", arg=subject)


UNLABELLED_JS = """() => {
  const bad = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.closest("[hidden]")) continue;
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label")
      || el.getAttribute("aria-labelledby");
    if (!named) bad.push(el.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!(el.textContent.trim() || el.getAttribute("aria-label"))) bad.push(el.outerHTML.slice(0, 120));
  }
  return bad;
}"""


def assert_accessible_names(page: Any) -> None:
    """Every form control has a label and every button/link a name (what a screen reader reads)."""
    missing = page.evaluate(UNLABELLED_JS)
    assert not missing, f"controls without an accessible name: {missing}"
