"""Policy lifecycle: versions, blobs, events, activations, schedules, impact reports, shadow runs.

Revision ID: lifecycle_0001
Revises:
Depends on: 0001_registry (ordering only: these tables reference no registry table)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "lifecycle_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("lifecycle",)
depends_on: str | Sequence[str] | None = "0001_registry"

ID = sa.String(64)
WHO = sa.String(200)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # Spelled out rather than imported from broker.lifecycle.tables, so this revision keeps
    # creating the schema as it was here; tests/lifecycle/test_store.py checks the two agree.
    op.create_table(
        "policy_blobs",
        sa.Column("sha256", ID, primary_key=True),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_table(
        "policy_versions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("parent", ID, nullable=True),
        sa.Column("author", WHO, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("validation", sa.Text, nullable=True),
        sa.Column("proposed_by", WHO, nullable=True),
        sa.Column("proposed_at", _ts(), nullable=True),
        sa.Column("decided_by", WHO, nullable=True),
        sa.Column("decided_at", _ts(), nullable=True),
        sa.Column("approval", sa.Text, nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
    )
    op.create_index("ix_policy_versions_state", "policy_versions", ["state"])
    op.create_table(
        "policy_version_files",
        sa.Column("version_id", ID, primary_key=True),
        sa.Column("path", sa.String(300), primary_key=True),
        sa.Column("sha256", ID, nullable=False),
    )
    op.create_table(
        "policy_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_id", ID, nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", WHO, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("audit_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_policy_events_version", "policy_events", ["version_id", "seq"])
    op.create_table(
        "policy_activations",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("previous", ID, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", WHO, nullable=False),
        sa.Column("at", _ts(), nullable=False),
    )
    op.create_table(
        "policy_schedules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("effective_at", _ts(), nullable=False),
        sa.Column("created_by", WHO, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_policy_schedules_status", "policy_schedules", ["status", "effective_at"])
    op.create_table(
        "policy_impact_reports",
        sa.Column("id", ID, primary_key=True),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("base_version_id", ID, nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", WHO, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
    )
    op.create_table(
        "policy_shadow_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("started_by", WHO, nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("stopped_by", WHO, nullable=True),
        sa.Column("stopped_at", _ts(), nullable=True),
        sa.Column("observed", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "policy_shadow_disagreements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("tenant", sa.String(200), nullable=True),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("active_revision", sa.String(80), nullable=True),
        sa.Column("active_allow", sa.Boolean, nullable=True),
        sa.Column("shadow_allow", sa.Boolean, nullable=True),
        sa.Column("active_codes", sa.Text, nullable=False),
        sa.Column("shadow_codes", sa.Text, nullable=False),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("active_result", sa.Text, nullable=False),
        sa.Column("shadow_result", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_policy_shadow_disagreements_run", "policy_shadow_disagreements", ["run_id", "id"]
    )


def downgrade() -> None:
    for name in (
        "policy_shadow_disagreements",
        "policy_shadow_runs",
        "policy_impact_reports",
        "policy_schedules",
        "policy_activations",
        "policy_events",
        "policy_version_files",
        "policy_versions",
        "policy_blobs",
    ):
        op.drop_table(name)
