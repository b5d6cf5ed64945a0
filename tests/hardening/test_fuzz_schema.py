"""Schema fuzzing: schemathesis drives every operation of the broker's own OpenAPI document.

Every generated request (schema-conforming and schema-violating) is sent with one of a rotating
set of credentials: a valid token for each role, and several invalid ones. The contract checked:

* no 5xx at all (the dependencies are healthy here, so even a 503 is a bug);
* no crash (an unhandled exception would surface as a 500 INTERNAL_ERROR, or raise in the client);
* every 4xx body carries a machine-readable ``error.code`` — except a *deny decision* of the
  Envoy ext_authz dialect, whose 403 body is the decision itself (``allow: false`` + reasons),
  as Envoy forwards it to the client.

The CI-length run is bounded by ``FUZZ_BUDGET_S``; the ``slow`` variant generates ten times more
examples per operation. Set ``TOLLGATE_FUZZ_EXAMPLES`` to override both.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.hardening.conftest import ROLES, InProcess, error_code, start_in_process

FUZZ_BUDGET_S = 170.0  # the CI run must stay under ~3 minutes
MIN_REQUESTS = 1000


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _credentials(broker: InProcess) -> list[tuple[str, str]]:
    m = broker.minter
    now = int(time.time())
    creds = [(role, f"Bearer {m.token(role, subject=f'fuzz-{role}')}") for role in ROLES]
    creds.append(("gateway-scoped", f"Bearer {m.token('gateway', tenants=['demo-us-commercial'])}"))
    creds += [
        ("none", ""),
        ("garbage", "Bearer not.a.jwt"),
        ("expired", f"Bearer {m.token('admin', exp=now - 3600, iat=now - 7200, nbf=now - 7200)}"),
        ("wrong-aud", f"Bearer {m.token('admin', aud='someone-else')}"),
        ("basic", "Basic dXNlcjpwYXNz"),
    ]
    return creds


def _send(broker: InProcess, kwargs: dict[str, Any]) -> Any:
    """Replay schemathesis' requests-style kwargs through the in-process client (httpx)."""
    extra: dict[str, Any] = {}
    if "json" in kwargs:
        extra["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        extra["content"] = data if isinstance(data, bytes | str) else None
        if not isinstance(data, bytes | str):
            extra["data"] = data
    return broker.client.request(
        kwargs["method"], kwargs["url"], headers=kwargs.get("headers") or {},
        params=kwargs.get("params") or {}, **extra,
    )


def _check(label: str, where: str, response: Any, tally: Tally) -> None:
    tally.requests += 1
    tally.statuses[response.status_code] += 1
    status = response.status_code
    if status >= 500:
        tally.failures.append(f"{where} [{label}] -> {status} {response.text[:300]}")
    elif 400 <= status < 500 and not where.startswith("HEAD ") and error_code(response) is None:
        # (a HEAD response never has a body, RFC 9110 §9.3.2)
        body: Any = None
        with contextlib.suppress(ValueError):
            body = response.json()
        is_deny_decision = status == 403 and isinstance(body, dict) and body.get("allow") is False
        if not is_deny_decision:
            tally.failures.append(f"{where} [{label}] -> {status} without error.code: {response.text[:300]}")


def _runner(broker: InProcess, op: Any, mode: GenerationMode, examples: int, where: str,
            creds: list[tuple[str, str]], tally: Tally) -> Any:
    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        # Rotate credentials deterministically so every operation meets every kind of caller.
        label, value = creds[tally.requests % len(creds)]
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        headers = {k: v for k, v in (kwargs.get("headers") or {}).items()
                   if k.lower() not in {"authorization", "x-tollgate-authorization"}}
        if value:
            headers["Authorization"] = value
            headers["x-tollgate-authorization"] = value
        kwargs["headers"] = headers
        try:
            response = _send(broker, kwargs)
        except Exception as exc:  # the in-process client re-raises what the app did not handle
            tally.requests += 1
            tally.failures.append(f"{where} [{label}] -> CRASH {exc!r} for {kwargs.get('url')}")
            return
        _check(label, where, response, tally)

    return run


def fuzz(broker: InProcess, examples: int, budget_s: float) -> tuple[Tally, float]:
    spec = broker.client.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    creds = _credentials(broker)
    tally = Tally()
    started = time.monotonic()
    operations = [r.ok() for r in schema.get_all_operations()]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for op in operations:
            if time.monotonic() - started > budget_s:
                break
            where = f"{op.method.upper()} {op.path} ({mode.value})"

            run = _runner(broker, op, mode, examples, where, creds, tally)
            # (Unsatisfiable: a negative strategy for an operation without constrained inputs)
            with contextlib.suppress(Unsatisfiable):
                run()
    return tally, time.monotonic() - started


def _report(tally: Tally, elapsed: float) -> str:
    return (f"fuzzed {tally.requests} requests in {elapsed:.1f}s; statuses "
            f"{dict(sorted(tally.statuses.items()))}")


@pytest.fixture(scope="module")
def fuzz_broker(tmp_path_factory: pytest.TempPathFactory) -> Any:
    client, s, minter = start_in_process(Path(tmp_path_factory.mktemp("fuzz")))
    with client:
        yield InProcess(client, s, minter)


def test_schema_fuzz_ci(fuzz_broker: InProcess) -> None:
    examples = int(os.environ.get("TOLLGATE_FUZZ_EXAMPLES", "25"))
    tally, elapsed = fuzz(fuzz_broker, examples, FUZZ_BUDGET_S)
    print(_report(tally, elapsed))
    assert not tally.failures, "\n".join(tally.failures[:40])
    assert tally.requests >= MIN_REQUESTS, _report(tally, elapsed)


@pytest.mark.slow
def test_schema_fuzz_long(fuzz_broker: InProcess) -> None:
    examples = int(os.environ.get("TOLLGATE_FUZZ_EXAMPLES", "120"))
    tally, elapsed = fuzz(fuzz_broker, examples, 30 * 60.0)
    print(_report(tally, elapsed))
    assert not tally.failures, "\n".join(tally.failures[:40])


def test_every_integer_parameter_survives_huge_values(fuzz_broker: InProcess) -> None:
    """Integers travel to SQLite/PostgreSQL as 64-bit values; 2**70 once made the driver raise.

    Generated from the OpenAPI document so a new integer parameter is covered automatically.
    """
    spec = fuzz_broker.client.get("/openapi.json").json()
    headers = fuzz_broker.auth("admin")
    failures = []
    tried = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            params = op.get("parameters", [])
            for p in params:
                schema = p.get("schema", {})
                types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
                if "integer" not in types or p["in"] not in {"path", "query"}:
                    continue
                for value in (str(2**70), str(-(2**70))):
                    url = path
                    for q in params:
                        if q["in"] == "path":
                            url = url.replace("{" + q["name"] + "}", value if q is p else "x")
                    query = {p["name"]: value} if p["in"] == "query" else {}
                    tried += 1
                    try:
                        r = fuzz_broker.client.request(method, url, params=query, headers=headers)
                    except Exception as exc:
                        failures.append(f"{method} {url} {query}: CRASH {exc!r}")
                        continue
                    if r.status_code >= 500:
                        failures.append(f"{method} {url} {query}: {r.status_code} {r.text[:200]}")
    assert tried > 10
    assert not failures, "\n".join(failures)
