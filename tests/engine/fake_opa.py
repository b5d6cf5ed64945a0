"""A fake OPA server for adapter tests: real HTTP, OPA's REST shapes, regorus evaluating.

Speaks just what OpaEngine uses: PUT/DELETE /v1/policies/{id} (Rego text; parse errors as OPA's
400 ``invalid_parameter`` body with ``errors[].location``), PUT /v1/data/{path} (204), POST
/v1/data/{path} with ``{"input": ...}`` → ``{"result": ...}`` or ``{}`` when undefined, and
POST /v1/query for the version. It is NOT OPA; the real server is tested in test_opa_engine.py
when an ``opa`` binary is on PATH.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from broker.engine.errors import PolicyCompileError, UndefinedResult
from broker.engine.interface import PolicyBundle
from broker.engine.regorus_engine import RegorusEngine


class FakeOpa:
    def __init__(self) -> None:
        self.policies: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_next_eval_with: int | None = None
        self._engine = RegorusEngine()
        self._lock = threading.Lock()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpa:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _reload(self) -> None:
        modules = {pid.split("/", 1)[1]: src for pid, src in self.policies.items()}
        self._engine.load(PolicyBundle(modules, self.data, "fake", 0))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any = None) -> None:
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", "0")))

            def do_PUT(self) -> None:
                fake.requests.append(("PUT", self.path))
                body = self._body()
                with fake._lock:
                    if self.path.startswith("/v1/policies/"):
                        pid = self.path.removeprefix("/v1/policies/")
                        previous = dict(fake.policies)
                        fake.policies[pid] = body.decode()
                        try:
                            fake._reload()
                        except PolicyCompileError as exc:
                            fake.policies = previous
                            d = exc.diagnostics[0]
                            self._reply(
                                400,
                                {
                                    "code": "invalid_parameter",
                                    "message": "error(s) occurred while compiling module(s)",
                                    "errors": [
                                        {
                                            "code": "rego_parse_error",
                                            "message": d.message,
                                            "location": {"file": pid, "row": d.line, "col": d.column},
                                        }
                                    ],
                                },
                            )
                            return
                        self._reply(200, {})
                    elif self.path.startswith("/v1/data/"):
                        fake.data[self.path.removeprefix("/v1/data/")] = json.loads(body)
                        if fake.policies:
                            fake._reload()
                        self._reply(204)
                    else:
                        self._reply(404, {"code": "resource_not_found"})

            def do_DELETE(self) -> None:
                fake.requests.append(("DELETE", self.path))
                with fake._lock:
                    fake.policies.pop(self.path.removeprefix("/v1/policies/"), None)
                self._reply(200, {})

            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path))
                body = json.loads(self._body() or b"{}")
                if self.path == "/v1/query":
                    self._reply(200, {"result": [{"v": "0.0.0-fake"}]})
                    return
                if fake.fail_next_eval_with:
                    status, fake.fail_next_eval_with = fake.fail_next_eval_with, None
                    self._reply(status, {"code": "internal_error", "message": "boom"})
                    return
                path = "data." + self.path.removeprefix("/v1/data/").replace("/", ".")
                with fake._lock:
                    try:
                        self._reply(200, {"result": fake._engine.query(path, body.get("input"))})
                    except UndefinedResult:
                        self._reply(200, {})

        return Handler
