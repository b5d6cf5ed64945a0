"""The SQLAlchemy Core implementation of :class:`RegistryStore`, for SQLite and PostgreSQL alike.

Driver differences (engine options, how writers are serialised) come in through ``lock_writers``
and the engine built by :mod:`broker.storage.sqlite` / :mod:`broker.storage.postgres`.
"""

from __future__ import annotations

import builtins
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from broker.errors import Conflict, NotFound, StoreUnavailable, ValidationFailed
from broker.storage.engines import LockWriters
from broker.storage.interface import (
    CatalogBaseline,
    Change,
    Delete,
    EntityDiff,
    EntityRef,
    Page,
    RegistryStore,
    RevisionInfo,
    Upsert,
)
from broker.storage.schema import registry_catalog_baseline as baseline_t
from broker.storage.schema import registry_entities as ent
from broker.storage.schema import registry_revisions as rev
from registry.canonical import canonical_json, entity_body, entity_digest, entity_key, revision_hash
from registry.model import KIND_COLLECTIONS, KINDS, Registry


@dataclass(frozen=True)
class _LiveState:
    """Digests of the live entities at one revision, kept between commits of this process."""

    number: int
    digests: dict[EntityRef, str]


def _json(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


def _escape_like(text_: str) -> str:
    return text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValidationFailed(f"unknown entity kind {kind!r}", details={"known": sorted(KINDS)})


def _search_name(entity: BaseModel) -> str | None:
    name = getattr(entity, "name", None)
    return name[:200] if isinstance(name, str) else None


class SqlRegistryStore(RegistryStore):
    def __init__(self, engine: Engine, lock_writers: LockWriters) -> None:
        self.engine = engine
        self._lock_writers = lock_writers
        self._live: _LiveState | None = None

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Report an unreachable or locked database as 503, never as a 500 or a wrong answer."""
        try:
            yield
        except (OperationalError, InterfaceError, PoolTimeout) as exc:
            detail = exc.orig if isinstance(exc, DBAPIError) else exc
            raise StoreUnavailable(f"registry store unavailable: {detail}") from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._guard(), self.engine.connect() as conn, conn.begin():
            yield conn

    @staticmethod
    def _head_number(conn: Connection) -> int:
        return int(conn.execute(select(func.coalesce(func.max(rev.c.number), 0))).scalar_one())

    def _resolve(self, conn: Connection, revision: int | None) -> int:
        """A concrete revision number; 0 is the empty registry before the first commit."""
        head = self._head_number(conn)
        if revision is None:
            return head
        if revision < 0 or revision > head:
            raise NotFound(f"registry revision {revision} does not exist (head is {head})")
        return revision

    @staticmethod
    def _live_at(revision: int, head: bool) -> ColumnElement[bool]:
        if head:  # served by the partial index on live rows
            return ent.c.rev_to.is_(None)
        return and_(ent.c.rev_from <= revision, or_(ent.c.rev_to.is_(None), ent.c.rev_to > revision))

    def _where_live(self, conn: Connection, revision: int | None) -> tuple[int, ColumnElement[bool]]:
        number = self._resolve(conn, revision)
        return number, self._live_at(number, head=number == self._head_number(conn))

    @staticmethod
    def _info(row: Row[Any]) -> RevisionInfo:
        created = row.created_at
        # SQLite hands back naive datetimes; everything is stored in UTC.
        created = created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC)
        return RevisionInfo(
            number=row.number,
            hash=row.hash,
            parent=row.parent,
            author=row.author,
            created_at=created,
            message=row.message,
            counts=json.loads(row.counts),
            changes=json.loads(row.changes),
            catalog_hash=row.catalog_hash,
        )

    @staticmethod
    def _entity(kind: str, body: str) -> BaseModel:
        return KINDS[kind].model_validate_json(body)

    # -- reads ------------------------------------------------------------------------------

    def head(self) -> RevisionInfo | None:
        with self._read() as conn:
            row = conn.execute(select(rev).order_by(rev.c.number.desc()).limit(1)).first()
            return None if row is None else self._info(row)

    def revision(self, number: int) -> RevisionInfo:
        with self._read() as conn:
            row = conn.execute(select(rev).where(rev.c.number == number)).first()
        if row is None:
            raise NotFound(f"registry revision {number} does not exist")
        return self._info(row)

    def history(self, offset: int = 0, limit: int = 100) -> Page[RevisionInfo]:
        with self._read() as conn:
            total = int(conn.execute(select(func.count()).select_from(rev)).scalar_one())
            rows = conn.execute(
                select(rev).order_by(rev.c.number.desc()).offset(offset).limit(limit)
            ).all()
            head = self._head_number(conn)
        return Page(items=[self._info(r) for r in rows], total=total, revision=head)

    def load(self, revision: int | None = None) -> Registry:
        with self._read() as conn:
            _, live = self._where_live(conn, revision)
            rows = conn.execute(
                select(ent.c.kind, ent.c.body).where(live).order_by(ent.c.kind, ent.c.key)
            ).all()
        buckets: dict[str, dict[str, BaseModel]] = {c: {} for c in KIND_COLLECTIONS.values()}
        for kind, body in rows:
            entity = self._entity(kind, body)
            buckets[KIND_COLLECTIONS[kind]][entity_key(entity)] = entity
        return Registry.model_validate(buckets)

    def get(self, kind: str, key: str, revision: int | None = None) -> BaseModel | None:
        _check_kind(kind)
        with self._read() as conn:
            _, live = self._where_live(conn, revision)
            body = conn.execute(
                select(ent.c.body).where(live, ent.c.kind == kind, ent.c.key == key)
            ).scalar_one_or_none()
        return None if body is None else self._entity(kind, body)

    def list(
        self,
        kind: str,
        revision: int | None = None,
        offset: int = 0,
        limit: int = 100,
        query: str | None = None,
    ) -> Page[BaseModel]:
        _check_kind(kind)
        with self._read() as conn:
            number, live = self._where_live(conn, revision)
            where = [live, ent.c.kind == kind]
            if query:
                pattern = f"%{_escape_like(query.lower())}%"
                where.append(
                    or_(
                        func.lower(ent.c.key).like(pattern, escape="\\"),
                        func.lower(ent.c.name).like(pattern, escape="\\"),
                    )
                )
            total = int(conn.execute(select(func.count()).select_from(ent).where(*where)).scalar_one())
            bodies = conn.execute(
                select(ent.c.body).where(*where).order_by(ent.c.key).offset(offset).limit(limit)
            ).scalars()
            items = [self._entity(kind, b) for b in bodies]
        return Page(items=items, total=total, revision=number)

    def _digests(self, conn: Connection, revision: int | None) -> tuple[int, dict[EntityRef, str]]:
        number, live = self._where_live(conn, revision)
        rows = conn.execute(select(ent.c.kind, ent.c.key, ent.c.digest).where(live)).all()
        return number, {(k, key): d for k, key, d in rows}

    def digests(self, revision: int | None = None) -> dict[EntityRef, str]:
        with self._read() as conn:
            return self._digests(conn, revision)[1]

    def diff(self, a: int, b: int) -> EntityDiff:
        with self._read() as conn:
            before = self._digests(conn, a)[1]
            after = self._digests(conn, b)[1]
        return EntityDiff(
            added=sorted(after.keys() - before.keys()),
            removed=sorted(before.keys() - after.keys()),
            changed=sorted(r for r in before.keys() & after.keys() if before[r] != after[r]),
        )

    def catalog_baseline(self) -> CatalogBaseline | None:
        with self._read() as conn:
            catalog_hash = conn.execute(
                select(rev.c.catalog_hash)
                .where(rev.c.catalog_hash.is_not(None))
                .order_by(rev.c.number.desc())
                .limit(1)
            ).scalar_one_or_none()
            if catalog_hash is None:
                return None
            rows = conn.execute(select(baseline_t.c.kind, baseline_t.c.key, baseline_t.c.digest)).all()
        return CatalogBaseline(hash=catalog_hash, digests={(k, key): d for k, key, d in rows})

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(select(rev.c.number).limit(1)).all()

    def close(self) -> None:
        self.engine.dispose()

    # -- writes -----------------------------------------------------------------------------

    def commit(
        self,
        changes: Sequence[Change],
        author: str,
        message: str,
        expected_head: int | None,
        *,
        baseline: CatalogBaseline | None = None,
    ) -> RevisionInfo:
        # Last change per entity wins; validate kinds and keys before touching the database.
        final: dict[EntityRef, Change] = {}
        for change in changes:
            _check_kind(change.kind)
            if isinstance(change, Upsert):
                if not isinstance(change.entity, KINDS[change.kind]):
                    raise ValidationFailed(
                        f"a {type(change.entity).__name__} cannot be stored as a {change.kind!r}"
                    )
                final[(change.kind, entity_key(change.entity))] = change
            else:
                final[(change.kind, change.key)] = change

        try:
            with self._guard(), self.engine.connect().execution_options(
                tollgate_write=True
            ) as conn, conn.begin():
                self._lock_writers(conn)
                info, live = self._commit_locked(
                    conn, final, author, message, expected_head, baseline=baseline
                )
        except IntegrityError as exc:  # only reachable if serialisation failed somewhere
            raise Conflict("another writer committed concurrently; retry") from exc
        if live is not None:
            self._live = live
        return info

    def _live_digests(self, conn: Connection, head: int) -> dict[EntityRef, str]:
        cached = self._live
        if cached is not None and cached.number == head:
            return dict(cached.digests)  # a copy: this commit may still roll back
        return self._digests(conn, head)[1]

    def _commit_locked(
        self,
        conn: Connection,
        final: dict[EntityRef, Change],
        author: str,
        message: str,
        expected_head: int | None,
        *,
        baseline: CatalogBaseline | None,
    ) -> tuple[RevisionInfo, _LiveState | None]:
        head = self._head_number(conn)
        if head != (expected_head or 0):
            raise Conflict(
                f"registry head is revision {head}, not {expected_head}; reload and retry",
                details={"head": head, "expected": expected_head},
            )
        live = self._live_digests(conn, head)
        number = head + 1
        closing: builtins.list[dict[str, Any]] = []
        rows: builtins.list[dict[str, Any]] = []
        tally = Counter({"added": 0, "changed": 0, "removed": 0})
        for (kind, key), change in sorted(final.items()):
            old = live.get((kind, key))
            if isinstance(change, Delete):
                if old is None:
                    raise NotFound(f"{kind} {key!r} does not exist")
                closing.append({"k": kind, "key_": key})
                del live[(kind, key)]
                tally["removed"] += 1
                continue
            digest = entity_digest(change.entity)
            if digest == old:
                continue  # identical content: no new row, no churn in history
            if old is not None:
                closing.append({"k": kind, "key_": key})
            tally["changed" if old is not None else "added"] += 1
            live[(kind, key)] = digest
            rows.append(
                {
                    "kind": kind,
                    "key": key,
                    "rev_from": number,
                    "rev_to": None,
                    "name": _search_name(change.entity),
                    "body": _json(entity_body(change.entity)),
                    "digest": digest,
                }
            )

        if not closing and not rows and baseline is None:
            head_row = conn.execute(select(rev).where(rev.c.number == head)).first()
            if head_row is None:
                raise ValidationFailed("nothing to commit: the change list is empty")
            return self._info(head_row), None

        if closing:  # close before insert: the live index allows one open row per entity
            conn.execute(
                update(ent)
                .where(ent.c.kind == bindparam("k"), ent.c.key == bindparam("key_"), ent.c.rev_to.is_(None))
                .values(rev_to=number),
                closing,
            )
        if rows:
            conn.execute(insert(ent), rows)
        counts = Counter(kind for kind, _ in live)
        record = {
            "number": number,
            "hash": revision_hash((k, key, d) for (k, key), d in live.items()),
            "parent": head or None,
            "author": author,
            "created_at": datetime.now(UTC),
            "message": message,
            "counts": _json({k: counts.get(k, 0) for k in KINDS}),
            "changes": _json(dict(tally)),
            "catalog_hash": baseline.hash if baseline else None,
        }
        conn.execute(insert(rev).values(record))
        if baseline is not None:
            conn.execute(delete(baseline_t))
            if baseline.digests:
                conn.execute(
                    insert(baseline_t),
                    [{"kind": k, "key": key, "digest": d} for (k, key), d in baseline.digests.items()],
                )
        info = self._info(conn.execute(select(rev).where(rev.c.number == number)).one())
        return info, _LiveState(number, live)
