"""Pick the driver module for a database URL: ``sqlite://`` (default) or ``postgresql+psycopg://``."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from broker.errors import ValidationFailed
from broker.storage import postgres, sqlite

LockWriters = Callable[[Connection], None]


def engine_for(url: str) -> tuple[Engine, LockWriters]:
    """The engine for ``url`` and how its writers take the registry's write lock."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError as exc:
        raise ValidationFailed(f"not a database URL: {url!r}") from exc
    if backend == "sqlite":
        return sqlite.create_sqlite_engine(url), sqlite.lock_writers
    if backend == "postgresql":
        return postgres.create_postgres_engine(url), postgres.lock_writers
    raise ValidationFailed(f"unsupported database {backend!r}: use sqlite:// or postgresql+psycopg://")
