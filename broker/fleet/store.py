"""Durable fleet state in a small SQLite file under the data dir.

* ``opa_decisions``: decision ids already appended to the audit log (the idempotency set for
  decision-log uploads; OPA retries a whole chunk after any non-2xx or lost reply).
* ``opa_agents``: the latest Status API report of each agent.

``synchronous=FULL`` in WAL mode: a committed row survives power loss, which is what lets the
receiver acknowledge a retry as "already stored". A connection per call keeps it thread-safe;
callers run these methods in a worker thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.errors import StoreUnavailable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS opa_decisions (
    decision_id TEXT PRIMARY KEY,
    audit_index INTEGER NOT NULL,
    agent_id TEXT,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS opa_agents (
    agent_id TEXT PRIMARY KEY,
    received_at REAL NOT NULL,
    reported_by TEXT,
    status TEXT NOT NULL
);
"""
_CHUNK = 500  # stay below SQLite's bound-parameter limit


@dataclass(frozen=True)
class AgentRow:
    agent_id: str
    received_at: float
    reported_by: str | None
    status: dict[str, Any]


class FleetStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"fleet store {self.path}: {exc}") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"fleet store {self.path}: {exc}") from exc
        finally:
            db.close()

    # -- decision-log idempotency -----------------------------------------------------------

    def seen(self, decision_ids: Iterable[str]) -> dict[str, int]:
        """decision id -> audit index, for the ids already stored."""
        ids = list(dict.fromkeys(decision_ids))
        out: dict[str, int] = {}
        with self._connect() as db:
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT decision_id, audit_index FROM opa_decisions WHERE decision_id IN ({marks})",  # noqa: S608
                    chunk,
                )
                out.update({str(r[0]): int(r[1]) for r in rows})
        return out

    def mark_seen(self, rows: Sequence[tuple[str, int, str | None]], received_at: float) -> None:
        """Record (decision id, audit index, agent id) rows in one durable transaction."""
        if not rows:
            return
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR IGNORE INTO opa_decisions (decision_id, audit_index, agent_id, received_at) "
                "VALUES (?, ?, ?, ?)",
                [(d, i, a, received_at) for d, i, a in rows],
            )
            db.execute("COMMIT")

    # -- status reports ---------------------------------------------------------------------

    def put_status(self, agent_id: str, received_at: float, reported_by: str | None, status: Any) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO opa_agents (agent_id, received_at, reported_by, status) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(agent_id) DO UPDATE SET received_at=excluded.received_at, "
                "reported_by=excluded.reported_by, status=excluded.status",
                (agent_id, received_at, reported_by, json.dumps(status, separators=(",", ":"))),
            )

    def agents(self) -> list[AgentRow]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT agent_id, received_at, reported_by, status FROM opa_agents ORDER BY agent_id"
            ).fetchall()
        return [AgentRow(str(r[0]), float(r[1]), r[2], json.loads(r[3])) for r in rows]
