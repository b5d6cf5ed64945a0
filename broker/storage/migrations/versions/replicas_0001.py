"""Shared audit log for broker replicas: the PostgreSQL sequence and the published objects.

Revision ID: replicas_0001
Revises:
Depends on: 0001_registry (ordering only: these tables reference no registry table)

PostgreSQL only: on SQLite the broker keeps its audit log on the local filesystem, so the
revision is recorded there but creates nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "replicas_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("replicas",)
depends_on: str | Sequence[str] | None = "0001_registry"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Single-row counter: appenders lock it FOR UPDATE, so indexes are handed out in commit
    # order and a rolled-back batch gives its indexes back (no gaps).
    op.create_table(
        "audit_seq_head",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="audit_seq_head_single_row"),
    )
    op.execute("INSERT INTO audit_seq_head (id, size) VALUES (1, 0)")
    op.create_table(
        "audit_seq_records",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    # Published tlog-tiles objects; tree_size is set on the checkpoint row only, so that a
    # publisher that lost its lease can never move the checkpoint backwards.
    op.create_table(
        "audit_objects",
        sa.Column("path", sa.String(300), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("audit_objects", "audit_seq_records", "audit_seq_head"):
        op.drop_table(table)
