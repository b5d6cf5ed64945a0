"""A real nginx (Debian package) with ``auth_request`` in front of a stub model backend.

Allowed requests reach the backend; denied ones get 403 with the reason codes; a stopped broker
yields an error (500), never an allow. The config under test is ``deploy/nginx/`` itself.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateways.conftest import ALLOWED, DENIED
from tests.live import ROOT, LiveBroker, free_port

TEMPLATE = ROOT / "deploy" / "nginx" / "tollgate-auth-request.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("nginx is not installed and this user cannot install it (needs root + apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "nginx-light"]):
        if subprocess.run(cmd, check=False, env=env, capture_output=True, timeout=600).returncode != 0:
            pytest.skip(f"could not install nginx with {' '.join(cmd)}")
    return shutil.which("nginx") or "/usr/sbin/nginx"


class Backend(http.server.BaseHTTPRequestHandler):
    hits: list[dict[str, str]] = []  # noqa: RUF012 - shared by design: the test inspects it

    def do_GET(self) -> None:
        Backend.hits.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"backend":"reached"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def nginx(broker: LiveBroker, gateway_token: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = nginx_binary()
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    prefix = Path(tmp_path_factory.mktemp("nginx"))
    (prefix / "tmp").mkdir()
    port = free_port()
    conf = (
        TEMPLATE.read_text()
        .replace("@@PREFIX@@", str(prefix))
        .replace("@@TOLLGATE@@", f"127.0.0.1:{broker.port}")
        .replace("@@BACKEND@@", f"127.0.0.1:{backend.server_address[1]}")
        .replace("@@PORT@@", str(port))
        .replace("@@TOKEN@@", gateway_token)
        .replace("@@REGION@@", ALLOWED["region"])
    )
    assert not re.search(r"@@[A-Z]+@@", conf)
    (prefix / "nginx.conf").write_text(conf)
    test = subprocess.run(  # noqa: PLW1510 - the return code is asserted
        [binary, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")], capture_output=True, text=True
    )
    assert test.returncode == 0, test.stderr
    proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"])
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url + "/", timeout=0.5)
            break
        except httpx.HTTPError:
            threading.Event().wait(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    backend.shutdown()


def test_allowed_request_reaches_backend(nginx: str) -> None:
    Backend.hits.clear()
    r = httpx.get(nginx + "/v1/models", headers={"x-tenant": ALLOWED["tenant"], "x-model": ALLOWED["model"]})
    assert r.status_code == 200 and r.json() == {"backend": "reached"}
    assert Backend.hits and Backend.hits[-1]["x-tollgate-decision-id"] == r.headers["x-tollgate-decision-id"]


def test_denied_request_gets_403_with_reason(nginx: str) -> None:
    Backend.hits.clear()
    # demo-ir is headquartered in an OFAC comprehensively sanctioned jurisdiction.
    r = httpx.get(nginx + "/v1/models", headers={"x-tenant": "demo-ir", "x-model": DENIED["model"]})
    assert r.status_code == 403
    assert "SANCTIONED_JURISDICTION" in r.headers["x-tollgate-reasons"]
    assert r.json()["error"]["code"] == "DENIED"
    assert Backend.hits == []


def test_stopped_broker_is_an_error_not_an_allow(nginx: str, broker: LiveBroker) -> None:
    Backend.hits.clear()
    broker.stop()
    try:
        r = httpx.get(nginx + "/v1/models", headers={"x-tenant": ALLOWED["tenant"], "x-model": ALLOWED["model"]})
        assert r.status_code >= 500
        assert Backend.hits == []
    finally:
        broker.start()
