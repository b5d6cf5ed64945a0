"""The lifecycle's tables (SQLAlchemy Core). The Alembic migration
``broker/storage/migrations/versions/lifecycle_0001.py`` creates exactly these; a test compares them.

JSON is stored as text so SQLite and PostgreSQL behave the same; instants are UTC.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

ID = sa.String(64)  # sha256 hex
WHO = sa.String(200)
TS = sa.DateTime(timezone=True)

# File contents, stored once however many versions share them (content-addressed).
blobs = sa.Table(
    "policy_blobs",
    metadata,
    sa.Column("sha256", ID, primary_key=True),
    sa.Column("content", sa.Text, nullable=False),
)

versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("parent", ID, nullable=True),
    sa.Column("author", WHO, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("validation", sa.Text, nullable=True),
    sa.Column("proposed_by", WHO, nullable=True),
    sa.Column("proposed_at", TS, nullable=True),
    sa.Column("decided_by", WHO, nullable=True),
    sa.Column("decided_at", TS, nullable=True),
    sa.Column("approval", sa.Text, nullable=True),
    sa.Column("updated_at", TS, nullable=False),
)

version_files = sa.Table(
    "policy_version_files",
    metadata,
    sa.Column("version_id", ID, primary_key=True),
    sa.Column("path", sa.String(300), primary_key=True),
    sa.Column("sha256", ID, nullable=False),
)

# Every step, in order: the local history behind `log` (the audit log holds the signed copy).
events = sa.Table(
    "policy_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version_id", ID, nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", WHO, nullable=False),
    sa.Column("at", TS, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("audit_index", sa.BigInteger, nullable=True),
)

# One row per activation (manual, scheduled, rollback); the newest row is what is live, and its
# `previous` is where a one-step rollback goes.
activations = sa.Table(
    "policy_activations",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version_id", ID, nullable=False),
    sa.Column("previous", ID, nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("actor", WHO, nullable=False),
    sa.Column("at", TS, nullable=False),
)

schedules = sa.Table(
    "policy_schedules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version_id", ID, nullable=False),
    sa.Column("effective_at", TS, nullable=False),
    sa.Column("created_by", WHO, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | done | cancelled | failed
    sa.Column("finished_at", TS, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)

impact_reports = sa.Table(
    "policy_impact_reports",
    metadata,
    sa.Column("id", ID, primary_key=True),  # sha256 of the canonical report
    sa.Column("version_id", ID, nullable=False),
    sa.Column("base_version_id", ID, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("created_by", WHO, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("report", sa.Text, nullable=False),
)

shadow_runs = sa.Table(
    "policy_shadow_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version_id", ID, nullable=False),
    sa.Column("started_by", WHO, nullable=False),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("stopped_by", WHO, nullable=True),
    sa.Column("stopped_at", TS, nullable=True),
    sa.Column("observed", sa.BigInteger, nullable=False),
    sa.Column("errors", sa.BigInteger, nullable=False),
)

shadow_disagreements = sa.Table(
    "policy_shadow_disagreements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("at", TS, nullable=False),
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

sa.Index("ix_policy_versions_state", versions.c.state)
sa.Index("ix_policy_events_version", events.c.version_id, events.c.seq)
sa.Index("ix_policy_schedules_status", schedules.c.status, schedules.c.effective_at)
sa.Index("ix_policy_shadow_disagreements_run", shadow_disagreements.c.run_id, shadow_disagreements.c.id)
