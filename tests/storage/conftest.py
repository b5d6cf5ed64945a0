"""Store fixtures: every store test runs on SQLite, and on PostgreSQL when it is reachable.

PostgreSQL tests each get a fresh schema (dropped afterwards) on the ``test`` database, so they
can run in parallel with each other and with other suites. Set ``TOLLGATE_TEST_PG_URL`` to point
elsewhere; tests skip (saying why) if the server does not answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from broker.storage import create_store
from broker.storage.sql import SqlRegistryStore
from tests.storage.pg import private_schema_url


@pytest.fixture
def pg_url() -> Iterator[str]:
    with private_schema_url() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tollgate.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[[], SqlRegistryStore]]:
    """Opens stores on the same database (several = several processes); closes them all."""
    opened: list[SqlRegistryStore] = []

    def make() -> SqlRegistryStore:
        opened.append(create_store(store_url))
        return opened[-1]

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(make_store: Callable[[], SqlRegistryStore]) -> SqlRegistryStore:
    return make_store()
