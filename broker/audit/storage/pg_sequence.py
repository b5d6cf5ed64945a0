"""PostgreSQL sequence store: one shared, gap-free record sequence for every broker replica.

``append`` runs one transaction per group-commit batch: lock the single counter row
(``SELECT … FOR UPDATE``), COPY the batch in at the indexes that follow, bump the counter,
COMMIT. The lock serialises appenders of all processes, so indexes follow commit order; a
failed batch rolls back its counter update too, so there are never gaps. The caller (the
sequencer) hears the first index only after COMMIT returned, i.e. after PostgreSQL made the
batch durable (``synchronous_commit`` is forced on for these transactions).

Records the published tree already holds are deleted (``mark_integrated``), in steps of at
least ``COMPACT_EVERY``, always keeping the newest record: ``open`` checks the counter against
it. A read below the compacted range says so (those records are in the tiles).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, text

from broker.audit.errors import LogCorrupt
from broker.audit.storage.base import SequenceStore
from broker.audit.storage.pg_errors import audit_db_errors

_READ_HEAD = "SELECT size FROM audit_seq_head WHERE id = 1"
_LOCK_HEAD = _READ_HEAD + " FOR UPDATE"
_COPY = "COPY audit_seq_records (idx, data) FROM STDIN (FORMAT BINARY)"
COMPACT_EVERY = 4096


class PgSequenceStore(SequenceStore):
    """Records in ``audit_seq_records``; the count in the one-row ``audit_seq_head``.

    The tables come from the ``replicas`` migration branch. The engine belongs to the caller.
    """

    def __init__(self, engine: Engine, compact_every: int = COMPACT_EVERY) -> None:
        self.engine = engine
        self.compact_every = compact_every
        self._compacted = 0  # every record below this index is known to be deleted

    def open(self) -> int:
        with audit_db_errors("sequence recovery"), self.engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_seq_head (id, size) VALUES (1, 0) "
                              "ON CONFLICT (id) DO NOTHING"))
            # Locked, so that other replicas' appends cannot commit between the two reads.
            size = self._size(conn, lock=True)
            top = conn.execute(text("SELECT max(idx) FROM audit_seq_records")).scalar()
        # Nothing can be torn here (a batch commits or not), so a mismatch is real damage.
        if (-1 if top is None else int(top)) != size - 1:
            raise LogCorrupt(f"audit sequence counter says {size} records, highest index is {top}")
        return size

    @staticmethod
    def _size(conn: Connection, lock: bool = False) -> int:
        value = conn.execute(text(_LOCK_HEAD if lock else _READ_HEAD)).scalar()
        if value is None:
            raise LogCorrupt("audit sequence counter row is missing")
        return int(value)

    def append(self, records: Sequence[bytes]) -> int:
        if not records:
            return self.size()
        with audit_db_errors("sequence append"), self.engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit TO on"))
            first = self._size(conn, lock=True)
            raw: Any = conn.connection.driver_connection  # psycopg: COPY needs the raw cursor
            with raw.cursor() as cur, cur.copy(_COPY) as copy:
                copy.set_types(["int8", "bytea"])
                for i, record in enumerate(records):
                    copy.write_row((first + i, record))
            conn.execute(text("UPDATE audit_seq_head SET size = :n WHERE id = 1"),
                         {"n": first + len(records)})
        return first

    def read(self, start: int, end: int) -> list[bytes]:
        if not 0 <= start <= end:
            raise LogCorrupt(f"bad sequence range [{start},{end})")
        if start == end:
            return []
        with audit_db_errors("sequence read"), self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT idx, data FROM audit_seq_records WHERE idx >= :a AND idx < :b "
                     "ORDER BY idx"), {"a": start, "b": end}).all()
        if len(rows) != end - start or (rows and int(rows[-1][0]) != end - 1):
            if start < self._oldest():
                raise LogCorrupt(f"sequence records below {self._oldest()} were compacted (they are "
                                 f"in the published tiles); asked for [{start},{end})")
            raise LogCorrupt(f"audit sequence has {len(rows)} of the records [{start},{end})")
        return [bytes(data) for _idx, data in rows]

    def size(self) -> int:
        with audit_db_errors("sequence size"), self.engine.connect() as conn:
            return self._size(conn)

    def _oldest(self) -> int:
        with audit_db_errors("sequence read"), self.engine.connect() as conn:
            low = conn.execute(text("SELECT min(idx) FROM audit_seq_records")).scalar()
        return 0 if low is None else int(low)

    def mark_integrated(self, size: int) -> None:
        """Delete the records below ``size`` (durably published), but never the newest one."""
        if size - self._compacted < self.compact_every:
            return
        with audit_db_errors("sequence compaction"), self.engine.begin() as conn:
            keep_from = min(size, self._size(conn) - 1)
            conn.execute(text("DELETE FROM audit_seq_records WHERE idx < :n"), {"n": keep_from})
        self._compacted = max(self._compacted, keep_from)

    def close(self) -> None:
        """Nothing to release: the engine (and its pool) belongs to the caller."""
