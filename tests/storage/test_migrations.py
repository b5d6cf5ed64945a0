"""Migrations: the registry branch matches the live table definitions; features can add branches."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from broker.storage import migrate
from broker.storage.schema import metadata

FEATURE_REVISION = '''
import sqlalchemy as sa
from alembic import op

revision = "demo_feature_0001"
down_revision = None
branch_labels = ("demo_feature",)
depends_on = "0001_registry"


def upgrade() -> None:
    op.create_table("demo_feature_items", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("demo_feature_items")
'''


def test_migration_creates_the_live_schema(store_url: str) -> None:
    migrate(store_url)
    engine = create_engine(store_url)
    insp = inspect(engine)
    for table in metadata.sorted_tables:
        columns = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(columns) == set(table.columns.keys()), table.name
        for col in table.columns:
            assert columns[col.name]["nullable"] == col.nullable, (table.name, col.name)
        assert insp.get_pk_constraint(table.name)["constrained_columns"] == [c.name for c in table.primary_key]
    engine.dispose()


def test_feature_branch_in_its_own_folder(store_url: str, tmp_path: Path) -> None:
    versions = tmp_path / "feature_versions"
    versions.mkdir()
    (versions / "demo_feature_0001.py").write_text(FEATURE_REVISION)
    migrate(store_url, extra_locations=[versions])
    migrate(store_url, extra_locations=[versions])  # idempotent
    engine = create_engine(store_url)
    assert "demo_feature_items" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        heads = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    assert "demo_feature_0001" in heads  # 0001_registry may be implied by dependants' rows
    assert "registry_entities" in inspect(engine).get_table_names()
    engine.dispose()
