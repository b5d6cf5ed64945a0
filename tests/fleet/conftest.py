"""Fixtures: a signing key, a sample policy set, and a minimal app serving the fleet router."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from broker.audit.log import AuditLog  # noqa: E402
from broker.engine.interface import PolicyBundle  # noqa: E402
from broker.fleet import ActivationNotifier, FleetConfig, FleetService  # noqa: E402
from broker.fleet.api import router  # noqa: E402
from broker.fleet.signing import BundleSigner  # noqa: E402
from broker.http.errors import install_error_handlers  # noqa: E402
from broker.http.middleware import RequestContextMiddleware  # noqa: E402
from broker.security.jwks import KeySet  # noqa: E402
from broker.security.keys import DevTokenKey, ensure_dev_token_key  # noqa: E402
from broker.security.tokens import TokenVerifier, issue_token  # noqa: E402

ISS, AUD = "tollgate-test", "tollgate"
KEY_ID = "tollgate-test-bundle"

POLICY = """# Tollgate routing policy (test copy)
package tollgate.routing

import rego.v1

default allow := false

allow if data.tollgate.registry.tenants[input.tenant].active

decision := {"decision": "allow", "reason_codes": []} if allow
else := {"decision": "deny", "reason_codes": ["TENANT_UNKNOWN"]}
"""
HELPERS = 'package tollgate.lib\n\nimport rego.v1\n\nname := "tollgate"\n'
TESTS = "package tollgate.routing_test\n\nimport rego.v1\n\ntest_nothing if true\n"


def sample_bundle(policy_revision: str = "p-7", registry_revision: int = 42, **extra: Any) -> PolicyBundle:
    registry: dict[str, Any] = {
        "schema": 1,
        "tenants": {"acme": {"active": True, "name": "Acme <EU> & Co — Zürich\u2028"}},
        "models": {"m1": {"ratio": 0.5, "big": 1_800_000_000_000_000_000, "tags": ["a", "b"]}},
        "empty": {},
    }
    registry.update(extra)
    return PolicyBundle(
        modules={"routing/decision.rego": POLICY, "lib.rego": HELPERS, "routing/decision_test.rego": TESTS},
        data={"tollgate": {"registry": registry}},
        policy_revision=policy_revision,
        registry_revision=registry_revision,
    )


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def signer(rsa_key: rsa.RSAPrivateKey) -> BundleSigner:
    return BundleSigner(rsa_key, KEY_ID)


@dataclass
class Source:
    """A mutable stand-in for the app's active-bundle provider."""

    bundle: PolicyBundle = field(default_factory=sample_bundle)

    def __call__(self) -> PolicyBundle:
        return self.bundle


@dataclass
class Clock:
    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Fleet:
    app: FastAPI
    client: TestClient
    source: Source
    notifier: ActivationNotifier
    service: FleetService
    audit: AuditLog
    clock: Clock
    token_key: DevTokenKey

    def token(self, roles: list[str], tenants: list[str] | None = None) -> str:
        return issue_token(self.token_key, subject="opa-sidecar", roles=roles, issuer=ISS, audience=AUD,
                           tenants=tenants)

    def headers(self, roles: list[str] | None = None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(roles or ['gateway'])}", **extra}


@pytest.fixture
def fleet(tmp_path: Path, signer: BundleSigner) -> Iterator[Fleet]:
    key = ensure_dev_token_key(tmp_path / "keys")
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=1_048_576)
    app.include_router(router)
    app.state.token_verifier = TokenVerifier(KeySet(file=key.jwks_path), issuer=ISS, audience=AUD, leeway_s=5)
    clock = Clock()
    config = FleetConfig(signing_key_id=KEY_ID, long_poll_recheck_s=0.2, agent_stale_after_s=300,
                         logs_max_decompressed_bytes=256 * 1024)
    service = FleetService.open(tmp_path, config, signer=signer, clock=clock)
    audit = AuditLog(tmp_path / "audit", Ed25519PrivateKey.generate(), "tollgate.test/log",
                     checkpoint_interval_s=0.05)
    audit.start()
    source, notifier = Source(), ActivationNotifier()
    app.state.fleet = service
    app.state.bundle_source = source
    app.state.bundle_notifier = notifier
    app.state.audit_log = audit
    with TestClient(app) as client:
        yield Fleet(app, client, source, notifier, service, audit, clock, key)
    audit.close()
