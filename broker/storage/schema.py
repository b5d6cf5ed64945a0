"""SQLAlchemy Core table definitions the store queries (the DDL itself lives in migrations/).

Temporal layout: an entity row is live for revisions ``rev_from <= r < rev_to`` (``rev_to`` NULL:
still live). Past rows are never rewritten except to close them, so reading revision ``r`` gives
the same answer forever, whatever is committed later.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData()

registry_revisions = Table(
    "registry_revisions",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("hash", String(80), nullable=False),
    Column("parent", Integer, nullable=True),
    Column("author", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("message", Text, nullable=False),
    Column("counts", Text, nullable=False),  # canonical JSON {kind: live entities}
    Column("changes", Text, nullable=False),  # canonical JSON {added, changed, removed}
    Column("catalog_hash", String(80), nullable=True),
)

registry_entities = Table(
    "registry_entities",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("rev_from", Integer, primary_key=True, autoincrement=False),
    Column("rev_to", Integer, nullable=True),
    Column("name", String(200), nullable=True),  # denormalised for search
    Column("body", Text, nullable=False),  # canonical JSON, exactly the bytes that were hashed
    Column("digest", String(64), nullable=False),
)

registry_catalog_baseline = Table(
    "registry_catalog_baseline",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("digest", String(64), nullable=False),
)
