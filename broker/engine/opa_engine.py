"""A real OPA server, reached with opa-python-client (``TOLLGATE_ENGINE=opa``).

``load`` PUTs each module to ``/v1/policies/tollgate/<file>`` and each top-level key of the data
document to ``/v1/data/<key>`` (not the root, which would also replace OPA's ``system`` tree).
``evaluate`` POSTs ``{"input": …}`` to ``/v1/data/tollgate/routing/decision``.
Any transport error, non-2xx status or missing ``result`` (undefined) is an EngineFailure.
"""

from __future__ import annotations

import importlib.metadata
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import opa_client
from opa_client.errors import RegoParseError

from broker.engine.errors import (
    Diagnostic,
    EngineFailure,
    PolicyCompileError,
    UndefinedResult,
    clean_message,
)
from broker.engine.interface import (
    Outcome,
    PolicyBundle,
    PolicyEngine,
    RuleTestResult,
    TestReport,
    discover_tests,
)

NAME = "opa"
_POLICY_PREFIX = "tollgate"


def _policy_id(file: str) -> str:
    return f"{_POLICY_PREFIX}/{file}"


class OpaEngine(PolicyEngine):
    """Adapter over an OPA server's Policy and Data APIs."""

    name = NAME

    def __init__(self, url: str = "http://localhost:8181", timeout: float = 2.0, token: str | None = None) -> None:
        parts = urlsplit(url)
        self._client = opa_client.OpaClient(
            host=parts.hostname or "localhost",
            port=parts.port or (443 if parts.scheme == "https" else 8181),
            ssl=parts.scheme == "https",
            timeout=timeout,
            token=token,
            retries=0,  # a decision is retried by the caller, not silently here
        )
        self.version = f"opa-python-client {importlib.metadata.version('opa-python-client')}"
        self._bundle: PolicyBundle | None = None
        self._lock = threading.Lock()  # requests.Session is shared; load is not concurrent

    @property
    def bundle(self) -> PolicyBundle | None:
        return self._bundle

    def load(self, bundle: PolicyBundle) -> None:
        with self._lock:
            try:
                self.version = self._server_version()
                for file in sorted(bundle.modules):
                    self._put_policy(file, bundle.modules[file])
                for key, value in bundle.data.items():
                    # PUT per top-level key keeps /v1/data/system (OPA's own) untouched.
                    self._put_data(key, value)
            except (PolicyCompileError, EngineFailure):
                raise
            except Exception as exc:
                raise EngineFailure(f"{NAME}: load failed: {clean_message(exc)}") from None
            stale = set(self._bundle.modules) - set(bundle.modules) if self._bundle else set()
            for file in stale:
                self._delete_policy(file)
            self._bundle = bundle

    def _server_version(self) -> str:
        response = self._client._session.post(
            f"{self._client.root_url}/query",
            json={"query": "v := opa.runtime().version"},
            timeout=self._client.timeout,
        )
        response.raise_for_status()
        rows = response.json().get("result") or [{}]
        return str(rows[0].get("v", "unknown"))

    def _put_policy(self, file: str, source: str) -> None:
        try:
            # rego_compat=False: never let the client rewrite our v1 source as v0.
            self._client.update_policy_from_string(source, _policy_id(file), rego_compat=False)
        except RegoParseError as exc:
            raise PolicyCompileError(NAME, _diagnostics(file, exc.errors, str(exc))) from None

    def _put_data(self, key: str, value: Any) -> None:
        response = self._client._session.put(
            f"{self._client.root_url}/data/{key}", json=value, timeout=self._client.timeout
        )
        if response.status_code != 204:
            raise EngineFailure(f"{NAME}: PUT data/{key} -> {response.status_code}: {response.text[:300]}")

    def _delete_policy(self, file: str) -> None:
        self._client._session.delete(
            f"{self._client.root_url}/policies/{_policy_id(file)}", timeout=self._client.timeout
        )

    def query(self, rule_path: str, input: Mapping[str, Any] | None = None) -> Any:
        path = rule_path.removeprefix("data.").replace(".", "/")
        body: dict[str, Any] = {} if input is None else {"input": dict(input)}
        try:
            response = self._client._session.post(
                f"{self._client.root_url}/data/{path}", json=body, timeout=self._client.timeout
            )
        except Exception as exc:
            raise EngineFailure(f"{NAME}: request failed: {clean_message(exc)}") from None
        if response.status_code != 200:
            raise EngineFailure(f"{NAME}: POST data/{path} -> {response.status_code}: {response.text[:300]}")
        try:
            payload = response.json()
        except ValueError:
            raise EngineFailure(f"{NAME}: non-JSON response from data/{path}") from None
        if not isinstance(payload, dict) or "result" not in payload:
            raise UndefinedResult(f"{NAME}: {rule_path} is undefined")
        return payload["result"]

    def run_tests(self, filter: str | None = None) -> TestReport:
        bundle = self._bundle
        if bundle is None:
            raise EngineFailure(f"{NAME}: no policy loaded")
        results = []
        for package, rule, file in discover_tests(bundle.modules, filter):
            started = time.perf_counter()
            outcome: Outcome
            try:
                value = self.query(f"data.{package}.{rule}")
                outcome, message = ("pass", "") if value is True else ("fail", f"got {value!r}")
            except UndefinedResult:
                outcome, message = "fail", "undefined"
            except EngineFailure as exc:
                outcome, message = "error", exc.message
            elapsed = (time.perf_counter() - started) * 1e6
            results.append(RuleTestResult(package, rule, file, outcome, message, elapsed))
        # Coverage needs `opa test --coverage` on the files; the server API does not expose it.
        return TestReport(NAME, tuple(results), coverage=None)

    def close(self) -> None:
        self._bundle = None
        self._client.close_connection()


def _diagnostics(file: str, errors: list[Any], fallback: str) -> list[Diagnostic]:
    out = []
    for err in errors or []:
        loc = err.get("location") or {} if isinstance(err, dict) else {}
        out.append(
            Diagnostic(
                file=str(loc.get("file") or file),
                line=int(loc.get("row") or 0),
                column=int(loc.get("col") or 0),
                message=str(err.get("message", "")) if isinstance(err, dict) else str(err),
            )
        )
    return out or [Diagnostic(file, 0, 0, clean_message(fallback, 500))]
