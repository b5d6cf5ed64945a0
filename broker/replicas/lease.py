"""The integrator lease: a PostgreSQL session advisory lock on one dedicated connection.

Why a session lock and not a lease row with an expiry: PostgreSQL drops the lock the moment
the holder's session ends, and a killed process's socket is closed by its kernel, so a crashed
integrator is replaced as soon as a standby next asks (no expiry to wait out, no clock skew).
The holder re-checks its connection before relying on the lease; if the connection is gone,
so is the lock, and it steps down. The lock key includes the schema, like the registry's
writer lock, so deployments or test schemas sharing a database do not contend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from broker.storage.postgres import CONNECT_TIMEOUT_S

# One lock per lease name and schema (hashtext of both; the schema keeps test schemas apart).
_TRY_LOCK = ("SELECT pg_try_advisory_lock("
             "hashtext('tollgate.lease:' || :name || ':' || current_schema()))")
_UNLOCK = ("SELECT pg_advisory_unlock("
           "hashtext('tollgate.lease:' || :name || ':' || current_schema()))")
# pg_locks rather than "SELECT 1": also catches a lock released behind our back
# (pg_advisory_unlock_all, a pooler resetting the session). A one-bigint advisory key shows
# its low 32 bits as objid with objsubid 1.
_STILL_MINE = ("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
               " AND pid = pg_backend_pid() AND objsubid = 1 AND objid ="
               " hashtext('tollgate.lease:' || :name || ':' || current_schema())::oid)")


def lease_engine(url: str) -> Engine:
    """An engine whose connections are really closed on release (a pooled one would keep the
    lock alive) and whose sessions die quickly with a dead peer (TCP keepalives)."""
    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={
        "connect_timeout": CONNECT_TIMEOUT_S, "keepalives": 1, "keepalives_idle": 5,
        "keepalives_interval": 2, "keepalives_count": 3})


class AdvisoryLease:
    """``held()`` answers "may I act as the single X now?", acquiring the lock when free.

    Cheap to call often: a standby tries the lock at most every ``retry_s``, the holder
    checks its connection at most every ``check_s``. Thread-safe.
    """

    def __init__(self, engine: Engine, name: str, *, retry_s: float = 0.5, check_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.name = name
        self.retry_s = retry_s
        self.check_s = check_s
        self._clock = clock
        self._conn: Connection | None = None
        self._last_try = -1e9
        self._last_check = -1e9
        self._lock = threading.Lock()
        self.acquisitions = 0  # how many times this process became the holder
        self.last_error: str | None = None

    @property
    def holding(self) -> bool:
        """What we last knew, without asking the server."""
        return self._conn is not None

    def held(self) -> bool:
        with self._lock:
            now = self._clock()
            if self._conn is not None:
                if now - self._last_check >= self.check_s:
                    self._last_check = now
                    self._verify()
                return self._conn is not None
            if now - self._last_try >= self.retry_s:
                self._last_try = now
                self._try_acquire()
            return self._conn is not None

    def _try_acquire(self) -> None:
        conn: Connection | None = None
        try:
            conn = self.engine.connect()
            got = bool(conn.execute(text(_TRY_LOCK), {"name": self.name}).scalar())
        except Exception as exc:  # the database being away just means: not the holder
            self.last_error = f"{type(exc).__name__}: {exc}"
            got = False
        if got:
            self._conn, self._last_check = conn, self._clock()
            self.acquisitions += 1
            self.last_error = None
        elif conn is not None:
            conn.close()

    def _verify(self) -> None:
        assert self._conn is not None
        try:
            ok = bool(self._conn.execute(text(_STILL_MINE), {"name": self.name}).scalar())
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            ok = False
        if not ok:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # never hand a maybe-locked session back to anything
                conn.close()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"

    def release(self) -> None:
        """Give the lease up now: unlocked before this returns, so a standby asking next
        gets it. Closing the session alone frees the lock only once the server has noticed
        the closed socket, a moment later."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute(text(_UNLOCK), {"name": self.name})
                except Exception as exc:  # a dead session holds nothing; closing it is enough
                    self.last_error = f"{type(exc).__name__}: {exc}"
            self._drop()
            self._last_try = self._clock()  # do not grab it straight back
