"""Registry storage: revisions, temporal entity rows, shipped-catalog baseline.

Revision ID: 0001_registry
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_registry"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("registry",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Spelled out rather than taken from broker.storage.schema: a migration must keep creating
    # the schema as it was at this revision, whatever the live table definitions become.
    op.create_table(
        "registry_revisions",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(80), nullable=False),
        sa.Column("parent", sa.Integer, nullable=True),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("catalog_hash", sa.String(80), nullable=True),
    )
    op.create_table(
        "registry_entities",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("rev_from", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("rev_to", sa.Integer, nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
    )
    # Head reads (the hot path) touch only live rows; past reads scan a kind by revision range.
    op.create_index(
        "ix_registry_entities_live",
        "registry_entities",
        ["kind", "key"],
        unique=True,
        sqlite_where=sa.text("rev_to IS NULL"),
        postgresql_where=sa.text("rev_to IS NULL"),
    )
    op.create_index("ix_registry_entities_range", "registry_entities", ["kind", "rev_from", "rev_to"])
    op.create_table(
        "registry_catalog_baseline",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("registry_catalog_baseline")
    op.drop_index("ix_registry_entities_range", table_name="registry_entities")
    op.drop_index("ix_registry_entities_live", table_name="registry_entities")
    op.drop_table("registry_entities")
    op.drop_table("registry_revisions")
