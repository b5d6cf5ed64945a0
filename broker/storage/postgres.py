"""PostgreSQL specifics (psycopg 3): writers serialised with a transaction-level advisory lock.

The lock key is derived from the current schema so independent deployments (or test schemas)
sharing one database do not block each other. The lock is released at commit or rollback.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, create_engine, text

CONNECT_TIMEOUT_S = 5


def create_postgres_engine(url: str) -> Engine:
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )


def lock_writers(conn: Connection) -> None:
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('tollgate.registry:' || current_schema()))")
    )
