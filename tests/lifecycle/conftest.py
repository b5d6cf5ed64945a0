"""Fixtures: a lifecycle service on SQLite (and PostgreSQL when reachable) with the real engine,
the real shipped pack and the hand-built fixture registry of the policy tests."""

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

from broker.engine.factory import create_engine  # noqa: E402
from broker.lifecycle.activation import SwapActivator  # noqa: E402
from broker.lifecycle.files import PolicySet, read_directory  # noqa: E402
from broker.lifecycle.service import LifecycleService  # noqa: E402
from broker.lifecycle.sources import StaticRegistrySource  # noqa: E402
from broker.lifecycle.store import LifecycleStore  # noqa: E402
from broker.policy.pack import DEFAULT_PACK_DIR  # noqa: E402
from broker.security.principal import Principal  # noqa: E402
from broker.storage.migrations import migrate  # noqa: E402
from tests.policy.fixture_registry import fixture_registry  # noqa: E402
from tests.storage.conftest import pg_url, sqlite_url  # noqa: E402, F401

ALICE = Principal("alice", frozenset({"officer"}))
BOB = Principal("bob", frozenset({"approver"}))
CAROL = Principal("carol", frozenset({"approver", "officer"}))
ADMIN = Principal("root", frozenset({"admin"}))


def shipped_pack() -> PolicySet:
    return read_directory(DEFAULT_PACK_DIR)[0]


def changed(pset: PolicySet, path: str, old: str, new: str) -> PolicySet:
    files = dict(pset.files)
    assert old in files[path], f"{old!r} not in {path}"
    files[path] = files[path].replace(old, new)
    return PolicySet.of(files)


def suspended_allowed_pack() -> PolicySet:
    """The shipped pack with one rule changed: suspended tenants are no longer denied.

    Its unit test for that rule is renamed so it no longer runs (as an officer would update it).
    """
    pset = changed(
        shipped_pack(), "tollgate/routing/tenant.rego", "if tenant.suspended == true", 'if tenant.suspended == "never"'
    )
    return changed(pset, "tollgate/routing/tenant_test.rego", "test_suspended if", "retired_suspended_case if")


def db_engine(url: str) -> Any:
    from sqlalchemy.engine import make_url

    from broker.storage import postgres, sqlite

    if make_url(url).get_backend_name() == "sqlite":
        engine = sqlite.create_sqlite_engine(url)
    else:
        engine = postgres.create_postgres_engine(url)
    migrate(engine)
    return engine


@dataclass
class Env:
    service: LifecycleService
    store: LifecycleStore
    activator: SwapActivator
    registry: StaticRegistrySource
    audit: list[dict[str, Any]] = field(default_factory=list)

    def actions(self) -> list[str]:
        return [r["action"] for r in self.audit]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return url


def make_env(url: str) -> Env:
    engine = db_engine(url)
    store = LifecycleStore(engine)
    registry = StaticRegistrySource({1: fixture_registry()})
    activator = SwapActivator(lambda: create_engine("regorus"), registry)
    records: list[dict[str, Any]] = []

    def audit(record: dict[str, Any]) -> int:
        records.append(record)
        return len(records) - 1

    service = LifecycleService(
        store,
        engine_factory=lambda: create_engine("regorus"),
        registry=registry,
        audit=audit,
        activator=activator,
        impact_workers=1,
    )
    return Env(service, store, activator, registry, records)


@pytest.fixture
def env(db_url: str) -> Iterator[Env]:
    e = make_env(db_url)
    yield e
    e.store.engine.dispose()


@pytest.fixture
def sqlite_env(sqlite_url: str) -> Iterator[Env]:  # noqa: F811
    e = make_env(sqlite_url)
    yield e
    e.store.engine.dispose()


def approve_flow(env: Env, pset: PolicySet, *, maker: Principal = ALICE, checker: Principal = BOB) -> str:
    """push -> propose -> impact -> approve; returns the version id."""
    record, _ = env.service.push(pset, maker, message="test")
    env.service.propose(record.id, maker)
    report = env.service.impact(record.id, maker, replay_days=0)
    env.service.approve(record.id, checker, impact_report_id=report["id"])
    return record.id
