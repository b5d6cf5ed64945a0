"""Alembic migrations for every table the broker owns, run in code (no alembic.ini).

Each feature owns a *branch*: its revision files carry ``branch_labels = ("<feature>",)`` and, if
they reference registry tables, ``depends_on = "0001_registry"``. A feature either drops its files
into ``versions/`` here or ships its own folder and calls :func:`register_version_location` at
import time. :func:`migrate` upgrades to ``heads``, so every branch is brought up to date.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError

from broker.errors import StoreUnavailable

_HERE = Path(__file__).resolve().parent
_EXTRA_LOCATIONS: list[Path] = []


def register_version_location(path: str | Path) -> None:
    """Add a folder of Alembic revision files (another feature's branch) to :func:`migrate`."""
    resolved = Path(path).resolve()
    if resolved not in _EXTRA_LOCATIONS:
        _EXTRA_LOCATIONS.append(resolved)


def alembic_config(extra_locations: Iterable[str | Path] = ()) -> Config:
    """An in-memory Alembic config pointing at this package (also usable with ``command.*``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    locations = [_HERE / "versions", *_EXTRA_LOCATIONS, *(Path(p) for p in extra_locations)]
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    return cfg


def migrate(target: str | Engine, extra_locations: Iterable[str | Path] = ()) -> None:
    """Upgrade the database (a URL or an engine) to the newest revision of every branch.

    Idempotent and safe for concurrent starters: it runs in one write transaction, serialised on
    SQLite through ``BEGIN IMMEDIATE`` and on PostgreSQL through an advisory lock.
    """
    if isinstance(target, str):
        from broker.storage.engines import engine_for  # deferred: engines imports broker.storage

        engine = engine_for(target)[0]
        try:
            _upgrade(engine, extra_locations)
        finally:
            engine.dispose()
    else:
        _upgrade(target, extra_locations)


def _upgrade(engine: Engine, extra_locations: Iterable[str | Path]) -> None:
    cfg = alembic_config(extra_locations)
    try:
        with engine.connect().execution_options(tollgate_write=True) as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext('tollgate.migrate:' || current_schema()))")
                )
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(f"cannot migrate the database: {exc.orig}") from exc
