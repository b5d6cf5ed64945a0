"""Service and API fixtures over a fresh store per test: SQLite, and PostgreSQL when reachable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.registry.service import RegistryService
from broker.storage import create_store
from broker.storage.sql import SqlRegistryStore
from tests.storage.pg import private_schema_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tollgate.db'}"
        return
    with private_schema_url() as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[SqlRegistryStore]:
    s = create_store(db_url)
    yield s
    s.close()


@pytest.fixture
def audit_log() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def service(store: SqlRegistryStore, audit_log: list[dict[str, Any]]) -> RegistryService:
    return RegistryService(store, audit=audit_log.append)
