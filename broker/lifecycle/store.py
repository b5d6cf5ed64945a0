"""Persistence for policy versions and everything that happens to them (SQLAlchemy Core).

Works on SQLite and PostgreSQL alike. Writers are serialised the way the registry store does it
(``BEGIN IMMEDIATE`` on SQLite via the ``tollgate_write`` option, an advisory lock on PostgreSQL),
and every state change is a compare-and-set on the current state, so two officers racing on the
same version cannot both win.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from broker.errors import StoreUnavailable
from broker.lifecycle import tables as t
from broker.lifecycle.errors import AmbiguousVersion, InvalidTransition, VersionNotFound
from broker.lifecycle.files import PolicySet, sha256_text
from broker.lifecycle.states import Action, State, next_state

_PG_LOCK = "SELECT pg_advisory_xact_lock(hashtext('tollgate.lifecycle:' || current_schema()))"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every instant we store is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    v = _aware(value)
    return None if v is None else v.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class VersionRecord:
    id: str
    parent: str | None
    author: str
    created_at: datetime
    message: str
    state: State
    source: dict[str, Any]
    manifest: dict[str, Any]
    validation: dict[str, Any] | None
    proposed_by: str | None
    proposed_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    approval: dict[str, Any] | None
    updated_at: datetime

    def to_json(self, *, with_validation: bool = False) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.state.value
        for key in ("created_at", "proposed_at", "decided_at", "updated_at"):
            out[key] = _iso(getattr(self, key))
        out["files"] = [f["path"] for f in self.manifest.get("files", [])]
        out["validation_ok"] = None if self.validation is None else bool(self.validation.get("ok"))
        if not with_validation:
            out.pop("validation")
        return out


def _record(row: sa.Row[Any]) -> VersionRecord:
    m = row._mapping
    return VersionRecord(
        id=m["id"],
        parent=m["parent"],
        author=m["author"],
        created_at=_aware(m["created_at"]) or utcnow(),
        message=m["message"],
        state=State(m["state"]),
        source=_load(m["source"]) or {},
        manifest=_load(m["manifest"]) or {},
        validation=_load(m["validation"]),
        proposed_by=m["proposed_by"],
        proposed_at=_aware(m["proposed_at"]),
        decided_by=m["decided_by"],
        decided_at=_aware(m["decided_at"]),
        approval=_load(m["approval"]),
        updated_at=_aware(m["updated_at"]) or utcnow(),
    )


@dataclass(frozen=True)
class Activation:
    seq: int
    version_id: str
    previous: str | None
    kind: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class Schedule:
    id: int
    version_id: str
    effective_at: datetime
    created_by: str
    created_at: datetime
    status: str
    finished_at: datetime | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("effective_at", "created_at", "finished_at"):
            out[key] = _iso(getattr(self, key))
        return out


def _schedule(row: sa.Row[Any]) -> Schedule:
    m = row._mapping
    return Schedule(
        m["id"],
        m["version_id"],
        _aware(m["effective_at"]) or utcnow(),
        m["created_by"],
        _aware(m["created_at"]) or utcnow(),
        m["status"],
        _aware(m["finished_at"]),
        m["error"],
    )


class LifecycleStore:
    """Repository over the ``policy_*`` tables. The caller owns ``engine`` (and its migrations)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- connections -----------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise StoreUnavailable(f"policy store unavailable: {exc.orig}") from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction holding the lifecycle's writer lock until commit/rollback."""
        try:
            with self.engine.connect().execution_options(tollgate_write=True) as conn, conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text(_PG_LOCK))
                yield conn
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise StoreUnavailable(f"policy store unavailable: {exc.orig}") from exc

    # --- versions --------------------------------------------------------------------------------

    def put_version(
        self, pset: PolicySet, *, author: str, message: str, parent: str | None, source: dict[str, Any]
    ) -> tuple[VersionRecord, bool]:
        """Store ``pset`` as a draft; if the same content exists, return it unchanged (created=False)."""
        vid = pset.version_id
        now = utcnow()
        with self.write() as conn:
            existing = conn.execute(sa.select(t.versions).where(t.versions.c.id == vid)).first()
            if existing is not None:
                return _record(existing), False
            for path, text in pset.files.items():
                digest = sha256_text(text)
                if conn.execute(sa.select(t.blobs.c.sha256).where(t.blobs.c.sha256 == digest)).first() is None:
                    conn.execute(sa.insert(t.blobs).values(sha256=digest, content=text))
                conn.execute(sa.insert(t.version_files).values(version_id=vid, path=path, sha256=digest))
            conn.execute(
                sa.insert(t.versions).values(
                    id=vid,
                    parent=parent,
                    author=author,
                    created_at=now,
                    message=message,
                    state=State.DRAFT.value,
                    source=_dump(source),
                    manifest=_dump(pset.manifest()),
                    updated_at=now,
                )
            )
            row = conn.execute(sa.select(t.versions).where(t.versions.c.id == vid)).one()
        return _record(row), True

    def resolve(self, ref: str) -> str:
        """Full id for ``ref``: a full id or a unique prefix of at least 6 hex digits."""
        ref = ref.strip().lower().removeprefix("sha256:")
        if len(ref) == 64:
            return ref
        if len(ref) < 6 or any(c not in "0123456789abcdef" for c in ref):
            raise VersionNotFound(f"no policy version {ref!r} (give the id or a prefix of at least 6 hex digits)")
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.versions.c.id).where(t.versions.c.id.like(ref + "%")).limit(2)
            ).all()
        if not rows:
            raise VersionNotFound(f"no policy version starts with {ref!r}")
        if len(rows) > 1:
            raise AmbiguousVersion(f"more than one policy version starts with {ref!r}")
        return str(rows[0][0])

    def get(self, version_id: str) -> VersionRecord:
        with self._read() as conn:
            row = conn.execute(sa.select(t.versions).where(t.versions.c.id == version_id)).first()
        if row is None:
            raise VersionNotFound(f"no policy version {version_id}")
        return _record(row)

    def files(self, version_id: str) -> PolicySet:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.version_files.c.path, t.blobs.c.content)
                .join(t.blobs, t.blobs.c.sha256 == t.version_files.c.sha256)
                .where(t.version_files.c.version_id == version_id)
            ).all()
        if not rows:
            raise VersionNotFound(f"no policy version {version_id}")
        return PolicySet.of({r[0]: r[1] for r in rows})

    def versions(self, *, state: State | None = None, limit: int = 100) -> list[VersionRecord]:
        query = sa.select(t.versions).order_by(t.versions.c.created_at.desc(), t.versions.c.id).limit(limit)
        if state is not None:
            query = query.where(t.versions.c.state == state.value)
        with self._read() as conn:
            return [_record(r) for r in conn.execute(query).all()]

    def set_validation(self, version_id: str, report: dict[str, Any]) -> None:
        with self.write() as conn:
            conn.execute(
                sa.update(t.versions)
                .where(t.versions.c.id == version_id)
                .values(validation=_dump(report), updated_at=utcnow())
            )

    def transition(
        self, conn: Connection, version_id: str, action: Action, **values: Any
    ) -> tuple[State, State]:
        """Move ``version_id`` by ``action`` inside ``conn``'s write transaction; (from, to)."""
        row = conn.execute(sa.select(t.versions.c.state).where(t.versions.c.id == version_id)).first()
        if row is None:
            raise VersionNotFound(f"no policy version {version_id}")
        current = State(row[0])
        target = next_state(action, current, version_id)
        for key in ("approval", "validation"):
            if key in values and not isinstance(values[key], str | None):
                values[key] = _dump(values[key])
        done = conn.execute(
            sa.update(t.versions)
            .where(t.versions.c.id == version_id, t.versions.c.state == current.value)
            .values(state=target.value, updated_at=utcnow(), **values)
        )
        if done.rowcount != 1:  # lost a race despite the lock (e.g. a foreign writer): refuse
            raise InvalidTransition(f"policy version {version_id[:12]} changed state concurrently")
        return current, target

    # --- activations -----------------------------------------------------------------------------

    def current_activation(self, conn: Connection | None = None) -> Activation | None:
        query = sa.select(t.activations).order_by(t.activations.c.seq.desc()).limit(1)
        if conn is None:
            with self._read() as c:
                row = c.execute(query).first()
        else:
            row = conn.execute(query).first()
        if row is None:
            return None
        m = row._mapping
        return Activation(m["seq"], m["version_id"], m["previous"], m["kind"], m["actor"], _aware(m["at"]) or utcnow())

    def add_activation(self, conn: Connection, version_id: str, previous: str | None, kind: str, actor: str) -> None:
        conn.execute(
            sa.insert(t.activations).values(
                version_id=version_id, previous=previous, kind=kind, actor=actor, at=utcnow()
            )
        )

    # --- events ----------------------------------------------------------------------------------

    def add_event(
        self,
        *,
        version_id: str | None,
        action: str,
        actor: str,
        details: dict[str, Any],
        audit_index: int | None,
        conn: Connection | None = None,
    ) -> None:
        stmt = sa.insert(t.events).values(
            version_id=version_id,
            action=action,
            actor=actor,
            at=utcnow(),
            details=_dump(details),
            audit_index=audit_index,
        )
        if conn is not None:
            conn.execute(stmt)
            return
        with self.write() as c:
            c.execute(stmt)

    def events(self, version_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        query = sa.select(t.events).order_by(t.events.c.seq.desc()).limit(limit)
        if version_id is not None:
            query = query.where(t.events.c.version_id == version_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "seq": r.seq,
                "version_id": r.version_id,
                "action": r.action,
                "actor": r.actor,
                "at": _iso(r.at),
                "details": _load(r.details),
                "audit_index": r.audit_index,
            }
            for r in rows
        ]

    # --- schedules -------------------------------------------------------------------------------

    def add_schedule(self, conn: Connection, version_id: str, effective_at: datetime, actor: str) -> Schedule:
        result = conn.execute(
            sa.insert(t.schedules).values(
                version_id=version_id,
                effective_at=effective_at.astimezone(UTC),
                created_by=actor,
                created_at=utcnow(),
                status="pending",
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        row = conn.execute(sa.select(t.schedules).where(t.schedules.c.id == key[0])).one()
        return _schedule(row)

    def schedules(self, *, status: str | None = None, version_id: str | None = None) -> list[Schedule]:
        query = sa.select(t.schedules).order_by(t.schedules.c.effective_at, t.schedules.c.id)
        if status is not None:
            query = query.where(t.schedules.c.status == status)
        if version_id is not None:
            query = query.where(t.schedules.c.version_id == version_id)
        with self._read() as conn:
            return [_schedule(r) for r in conn.execute(query).all()]

    def finish_schedule(self, conn: Connection, schedule_id: int, status: str, error: str | None = None) -> bool:
        """Pending -> ``status``; False if it was no longer pending (another worker took it)."""
        done = conn.execute(
            sa.update(t.schedules)
            .where(t.schedules.c.id == schedule_id, t.schedules.c.status == "pending")
            .values(status=status, finished_at=utcnow(), error=error)
        )
        return done.rowcount == 1

    # --- impact reports --------------------------------------------------------------------------

    def put_impact(
        self, *, report_id: str, version_id: str, base: str | None, actor: str, summary: dict[str, Any], report: str
    ) -> None:
        with self.write() as conn:
            if conn.execute(sa.select(t.impact_reports.c.id).where(t.impact_reports.c.id == report_id)).first():
                return
            conn.execute(
                sa.insert(t.impact_reports).values(
                    id=report_id,
                    version_id=version_id,
                    base_version_id=base,
                    created_at=utcnow(),
                    created_by=actor,
                    summary=_dump(summary),
                    report=report,
                )
            )

    def impact(self, report_id: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.impact_reports).where(t.impact_reports.c.id == report_id)).first()
        if row is None:
            return None
        return {
            "id": row.id,
            "version_id": row.version_id,
            "base_version_id": row.base_version_id,
            "created_at": _iso(row.created_at),
            "created_by": row.created_by,
            "summary": _load(row.summary),
            "report": _load(row.report),
        }

    def impacts_of(self, version_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """Stored impact reports of a version, newest first, without the report bodies."""
        cols = [c for c in t.impact_reports.c if c.name != "report"]
        with self._read() as conn:
            rows = conn.execute(
                sa.select(*cols)
                .where(t.impact_reports.c.version_id == version_id)
                .order_by(t.impact_reports.c.created_at.desc())
                .limit(limit)
            ).all()
        return [
            {"id": r.id, "version_id": r.version_id, "base_version_id": r.base_version_id,
             "created_at": _iso(r.created_at), "created_by": r.created_by, "summary": _load(r.summary)}
            for r in rows
        ]

    # --- shadow runs -----------------------------------------------------------------------------

    def start_shadow(self, conn: Connection, version_id: str, actor: str) -> int:
        result = conn.execute(
            sa.insert(t.shadow_runs).values(
                version_id=version_id, started_by=actor, started_at=utcnow(), observed=0, errors=0
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def running_shadow(self) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(t.shadow_runs).where(t.shadow_runs.c.stopped_at.is_(None)).order_by(t.shadow_runs.c.id.desc())
            ).first()
        return None if row is None else self._run_json(row)

    def shadow_run(self, run_id: int) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.shadow_runs).where(t.shadow_runs.c.id == run_id)).first()
        return None if row is None else self._run_json(row)

    @staticmethod
    def _run_json(row: sa.Row[Any]) -> dict[str, Any]:
        m = row._mapping
        return {
            "id": m["id"],
            "version_id": m["version_id"],
            "started_by": m["started_by"],
            "started_at": _iso(m["started_at"]),
            "stopped_by": m["stopped_by"],
            "stopped_at": _iso(m["stopped_at"]),
            "observed": m["observed"],
            "errors": m["errors"],
        }

    def stop_shadow(self, conn: Connection, run_id: int, actor: str) -> None:
        conn.execute(
            sa.update(t.shadow_runs)
            .where(t.shadow_runs.c.id == run_id, t.shadow_runs.c.stopped_at.is_(None))
            .values(stopped_by=actor, stopped_at=utcnow())
        )

    def record_shadow(self, run_id: int, observed: int, errors: int, disagreements: list[dict[str, Any]]) -> None:
        """Add counters and disagreement rows in one short transaction (called in batches)."""
        with self.write() as conn:
            conn.execute(
                sa.update(t.shadow_runs)
                .where(t.shadow_runs.c.id == run_id)
                .values(observed=t.shadow_runs.c.observed + observed, errors=t.shadow_runs.c.errors + errors)
            )
            if disagreements:
                conn.execute(sa.insert(t.shadow_disagreements), [dict(d, run_id=run_id) for d in disagreements])

    def shadow_disagreements(self, run_id: int, limit: int = 100) -> list[dict[str, Any]]:
        d = t.shadow_disagreements
        with self._read() as conn:
            rows = conn.execute(sa.select(d).where(d.c.run_id == run_id).order_by(d.c.id.desc()).limit(limit)).all()
        return [
            {
                "at": _iso(r.at),
                "tenant": r.tenant,
                "target": r.target,
                "model": r.model,
                "active_revision": r.active_revision,
                "active_allow": r.active_allow,
                "shadow_allow": r.shadow_allow,
                "active_codes": _load(r.active_codes),
                "shadow_codes": _load(r.shadow_codes),
                "input": _load(r.input),
            }
            for r in rows
        ]

    def shadow_groups(self, run_id: int) -> list[dict[str, Any]]:
        """Disagreements counted per (tenant, target, model, active_allow, shadow_allow)."""
        d = t.shadow_disagreements
        cols = (d.c.tenant, d.c.target, d.c.model, d.c.active_allow, d.c.shadow_allow)
        with self._read() as conn:
            rows = conn.execute(
                sa.select(*cols, sa.func.count().label("n"))
                .where(d.c.run_id == run_id)
                .group_by(*cols)
                .order_by(sa.func.count().desc())
            ).all()
        return [
            {
                "tenant": r.tenant,
                "target": r.target,
                "model": r.model,
                "active_allow": r.active_allow,
                "shadow_allow": r.shadow_allow,
                "count": r.n,
            }
            for r in rows
        ]
