"""PostgreSQL object storage for published log objects, so every replica serves the same tiles.

One row per object path in ``audit_objects``. Every write commits on its own, so :meth:`sync`
has nothing left to do. The checkpoint row also records its tree size and is only ever replaced
by a checkpoint of an equal or larger tree: an integrator that lost its lease without noticing
cannot roll the published log back (both build identical trees from the one shared sequence, so
equal sizes mean equal roots).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from sqlalchemy import Engine, text

from broker.audit.checkpoint import parse_checkpoint
from broker.audit.note import parse_note
from broker.audit.storage.base import CHECKPOINT_PATH, LogStorage, check_object_path
from broker.audit.storage.pg_errors import audit_db_errors
from broker.errors import AuditUnavailable, NotFound

_UPSERT = ("INSERT INTO audit_objects (path, data) VALUES (:path, :data) "
           "ON CONFLICT (path) DO UPDATE SET data = excluded.data")
_PUBLISH = ("INSERT INTO audit_objects (path, data, tree_size) VALUES (:path, :data, :size) "
            "ON CONFLICT (path) DO UPDATE SET data = excluded.data, tree_size = excluded.tree_size "
            "WHERE audit_objects.tree_size IS NULL OR audit_objects.tree_size <= excluded.tree_size")


class CheckpointSuperseded(AuditUnavailable):
    """A larger checkpoint is already published: another integrator holds the lease."""

    code = "AUDIT_CHECKPOINT_SUPERSEDED"


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class PgLogStorage(LogStorage):
    """Objects as rows; safe for many writers and readers in many processes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, path: str) -> bytes:
        check_object_path(path)
        with audit_db_errors("object read"), self.engine.connect() as conn:
            data = conn.execute(text("SELECT data FROM audit_objects WHERE path = :p"),
                                {"p": path}).scalar()
        if data is None:
            raise NotFound(f"audit object {path} not found")
        return bytes(data)

    def exists(self, path: str) -> bool:
        check_object_path(path)
        with audit_db_errors("object read"), self.engine.connect() as conn:
            return conn.execute(text("SELECT 1 FROM audit_objects WHERE path = :p"),
                                {"p": path}).first() is not None

    def put(self, path: str, data: bytes) -> None:
        if path == CHECKPOINT_PATH:
            self.publish_checkpoint(data)
            return
        self.put_many({path: data})

    def put_many(self, objects: Mapping[str, bytes]) -> None:
        if CHECKPOINT_PATH in objects:
            raise ValueError("publish the checkpoint with publish_checkpoint()")
        rows = [{"path": check_object_path(p), "data": d} for p, d in objects.items()]
        if not rows:
            return
        # One transaction: a batch of tiles lands together, readers see old or new rows.
        with audit_db_errors("object write"), self.engine.begin() as conn:
            conn.execute(text(_UPSERT), rows)

    def delete(self, path: str) -> None:
        check_object_path(path)
        with audit_db_errors("object delete"), self.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_objects WHERE path = :p"), {"p": path})

    def list(self, prefix: str = "") -> Iterator[str]:
        with audit_db_errors("object list"), self.engine.connect() as conn:
            paths = conn.execute(
                text("SELECT path FROM audit_objects WHERE path LIKE :p ESCAPE '\\'"),
                {"p": _like_prefix(prefix)}).scalars().all()
        return iter([str(p) for p in paths])

    def sync(self) -> None:
        """Every write already committed; WAL order keeps tiles ahead of their checkpoint."""

    def publish_checkpoint(self, data: bytes) -> None:
        size = parse_checkpoint(parse_note(data)[0]).size
        with audit_db_errors("checkpoint publish"), self.engine.begin() as conn:
            done = conn.execute(text(_PUBLISH), {"path": CHECKPOINT_PATH, "data": data,
                                                 "size": size}).rowcount
        if not done:
            raise CheckpointSuperseded(
                f"a checkpoint larger than {size} is already published (another integrator)")
