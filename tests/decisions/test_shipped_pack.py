"""The service over the real policy pack (rego/) and the shipped catalog with demo tenants."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from broker.decisions.model import PreflightQuery
from broker.decisions.service import DecisionService
from broker.decisions.snapshot import SnapshotManager, inputs_from_registry
from broker.engine.factory import create_engine
from broker.policy.pack import load_pack, read_pack
from registry.io import load_shipped

from .conftest import ListSink, gateway


@pytest.fixture(scope="module")
def shipped() -> Iterator[SnapshotManager]:
    reg = load_shipped(include_demo=True)
    manager = SnapshotManager(lambda: create_engine("regorus"))
    manager.load(inputs_from_registry(reg, 1, load_pack(), read_pack().revision))
    yield manager
    manager.close()


def test_shipped_pack_decides(shipped: SnapshotManager) -> None:
    service = DecisionService(shipped, ListSink())
    unknown = service.decide(PreflightQuery("nobody", "aws:eu-central-1", "nothing"), gateway())
    assert not unknown.outcome.allow
    assert {"UNKNOWN_TENANT", "UNKNOWN_MODEL"} <= set(unknown.outcome.reason_codes)
    suspended = service.decide(
        PreflightQuery("demo-suspended", "aws:us-east-1", "ai21.jamba-1-5-large"), gateway())
    assert "TENANT_SUSPENDED" in suspended.outcome.reason_codes and not suspended.outcome.allow
    ok = service.decide(
        PreflightQuery("demo-us-commercial", "aws:us-east-1", "ai21.jamba-1-5-large"), gateway())
    assert ok.outcome.allow, ok.outcome.reasons
    assert shipped.current.policy_revision.startswith("sha256:")


def test_shipped_routes_and_changes(shipped: SnapshotManager) -> None:
    service = DecisionService(shipped, ListSink())
    table = asyncio.run(service.routes_async("demo-us-commercial", "aws:us-east-1", None, gateway()))
    assert table.allowed and table.excluded
    assert len(table.allowed) + len(table.excluded) == len(shipped.current.catalog.models)
    until = time.time_ns() + 3 * 366 * 86_400 * 10**9
    changes = asyncio.run(service.route_changes_async("demo-trusted-partner", until, None, gateway()))
    for t in changes.transitions:
        assert t.allow_before != t.allow
