"""PostgreSQL fixtures for the replica tests: a fresh, migrated schema per test.

Tests skip, saying why, when the server at ``TOLLGATE_TEST_PG_URL`` does not answer. Each test
gets its own schema on the ``test`` database (dropped afterwards), so they never see another
suite's tables or lock keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from broker.replicas.wiring import shared_engine
from broker.storage.migrations import migrate
from tests.storage.pg import private_schema_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    with private_schema_url() as url:
        migrate(url)
        yield url


@pytest.fixture
def make_engine(pg_url: str) -> Iterator[Callable[[], Engine]]:
    """Engines on the test schema (one per simulated process); all disposed afterwards."""
    engines: list[Engine] = []

    def make() -> Engine:
        engines.append(shared_engine(pg_url))
        return engines[-1]

    yield make
    for e in engines:
        e.dispose()


@pytest.fixture
def engine(make_engine: Callable[[], Engine]) -> Engine:
    return make_engine()
