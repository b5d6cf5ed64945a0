"""Shared pieces of the hardening suite: an in-process broker with tokens for every role.

Markers registered here (pyproject's ``--strict-markers`` refuses unknown ones):

* ``faults``: kills, restarts and fills things (short rounds in CI, more under ``slow``);
* ``slow`` already exists in pyproject: long variants (fuzzing with more examples, the soak).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from broker.app import create_app
from broker.config import Settings
from broker.security.keys import DevTokenKey, ensure_dev_token_key
from tests.live import LiveBroker

ROLES = ("gateway", "officer", "approver", "auditor", "admin")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: fault injection (SIGKILL, PostgreSQL restart, disk full)")


@dataclass
class Minter:
    """Signs arbitrary claims with the broker's development key (or any other key)."""

    key: DevTokenKey
    issuer: str
    audience: str

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": "hardening", "roles": ["gateway"],
            "iat": now, "nbf": now, "exp": now + 3600, "jti": uuid.uuid4().hex,
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def token(self, *roles: str, subject: str = "hardening", tenants: list[str] | None = None,
              **overrides: Any) -> str:
        claims = self.claims(sub=subject, roles=list(roles) or ["gateway"], **overrides)
        if tenants is not None:
            claims["tenants"] = tenants
        return jwt.encode(claims, self.key.private, algorithm="EdDSA", headers={"kid": self.key.kid})


@dataclass
class InProcess:
    client: TestClient
    settings: Settings
    minter: Minter

    def auth(self, *roles: str, **kw: Any) -> dict[str, str]:
        return {"authorization": f"Bearer {self.minter.token(*roles, **kw)}"}


# Attack tables and fuzzers send thousands of bad tokens from one test client address; the
# per-address limiter (tested on its own in test_auth_attacks.py) would turn their 401s into 429s.
UNLIMITED = {"rate_limit_auth_failures_rps": 1e9, "rate_limit_auth_failures_burst": 1e9}


def start_in_process(data_dir: Path, **settings: Any) -> tuple[TestClient, Settings, Minter]:
    s = Settings(data_dir=data_dir, include_demo=True, log_level="warning", **{**UNLIMITED, **settings})
    key = ensure_dev_token_key(s.keys_dir)
    return TestClient(create_app(s)), s, Minter(key, s.jwt_issuer, s.jwt_audience)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    client, settings, minter = start_in_process(Path(tmp_path_factory.mktemp("hardening")))
    with client:
        yield InProcess(client, settings, minter)


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBroker]:
    """A real ``tollgate serve`` subprocess (uvicorn, real sockets) shared by the package."""
    broker = LiveBroker(Path(tmp_path_factory.mktemp("hardening-live"))).start()
    try:
        yield broker
    finally:
        broker.stop()


def live_minter(broker: LiveBroker) -> Minter:
    s = Settings(data_dir=broker.data_dir)
    return Minter(ensure_dev_token_key(s.keys_dir), s.jwt_issuer, s.jwt_audience)


ALLOWED = {"tenant": "demo-us-commercial", "region": "aws-bedrock:us", "model": "anthropic.claude-opus-4-7"}


def error_code(response: Any) -> str | None:
    """The machine-readable code of an error body, or None when the body has none."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code else None
