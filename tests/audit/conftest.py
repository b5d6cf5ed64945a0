"""Shared fixtures: a running AuditLog in a temp dir and a record factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit.log import AuditLog
from broker.audit.records import decision_record

ORIGIN = "tollgate.test/audit"


def make_decision(i: int, tenant: str = "acme", model: str = "gpt-x", **extra: Any,
                  ) -> dict[str, Any]:
    return decision_record(
        decision_id=f"dec-{i}", input={"tenant": tenant, "model": model, "n": i, **extra},
        result={"decision": "allow" if i % 3 else "deny", "reason_codes": ["R1"]},
        policy_revision="p7", registry_revision=12, engine="regorus",
        caller={"subject": "svc-a"}, tenant=tenant, model=model,
        time=f"2026-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}Z")


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


LogFactory = Callable[..., AuditLog]


@pytest.fixture
def make_log(tmp_path: Path, key: Ed25519PrivateKey) -> Iterator[LogFactory]:
    logs: list[AuditLog] = []

    def factory(directory: Path | None = None, signer: Ed25519PrivateKey | None = None,
                **kwargs: Any) -> AuditLog:
        kwargs.setdefault("checkpoint_interval_s", 0.05)
        log = AuditLog(directory or tmp_path / "log", signer or key, ORIGIN, **kwargs)
        log.start()
        logs.append(log)
        return log

    yield factory
    for log in logs:
        log.close()
