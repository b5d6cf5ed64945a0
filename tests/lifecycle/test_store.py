"""The Alembic migration creates exactly the tables the code uses, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from broker.lifecycle import tables
from tests.lifecycle.conftest import Env


def test_migration_matches_table_definitions(env: Env) -> None:
    inspector = sa.inspect(env.store.engine)
    for table in tables.metadata.sorted_tables:
        live = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(live) == {c.name for c in table.columns}, table.name
        for column in table.columns:
            assert live[column.name]["nullable"] == column.nullable, (table.name, column.name)
        pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
        assert sorted(pk) == sorted(c.name for c in table.primary_key.columns), table.name


def test_times_come_back_aware_utc(env: Env) -> None:
    from tests.lifecycle.conftest import ALICE, shipped_pack

    record, _ = env.service.push(shipped_pack(), ALICE, message="t")
    assert record.created_at.tzinfo is not None and record.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
