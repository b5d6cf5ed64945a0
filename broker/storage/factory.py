"""``create_store(url)``: pick the driver from the URL, build the engine, run migrations."""

from __future__ import annotations

from broker.storage.engines import engine_for
from broker.storage.migrations import migrate
from broker.storage.sql import SqlRegistryStore


def create_store(url: str, *, run_migrations: bool = True) -> SqlRegistryStore:
    """A store for ``sqlite:///path`` (default driver) or ``postgresql+psycopg://…``.

    Migrations run by default so a fresh database is usable at once; raises ``StoreUnavailable``
    if the database cannot be reached, ``ValidationFailed`` for an unsupported URL.
    """
    engine, lock_writers = engine_for(url)
    store = SqlRegistryStore(engine, lock_writers)
    if run_migrations:
        try:
            migrate(engine)
        except BaseException:
            store.close()
            raise
    return store
