"""Registry service: the only way the broker changes the registry.

Every write validates the *whole* resulting registry (referential checks included) before it is
committed, so the store never holds a revision that fails :func:`registry.validate.validate`.
The head registry is cached in memory (decisions read it constantly) and replaced on commit.

Shipped-catalog merge rule (``bootstrap_shipped``), per entity, with ``base`` the catalog as last
applied, ``new`` the catalog now shipped and ``head`` the store's current content:

* ``new == base`` - the catalog did not change it: the head is kept, whatever officers did to it
  (edited, deleted or added).
* ``new != base`` and ``head == base`` - untouched locally: the catalog's version is taken
  (added, replaced or removed).
* ``new != base`` and ``head == new`` - already there: nothing to do.
* ``new != base`` and ``head`` differs from both - an officer edited what the catalog now changed:
  the catalog's version is taken, because it carries newer sourced facts (a new Commerce letter
  must not be masked by a stale local copy). The conflict is named in the revision message and
  the result, and the revision diff shows the officer's lost values so they can be re-applied.

The upgrade is always one new revision (author ``system``), never an in-place overwrite.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel

from broker.errors import (
    AuditUnavailable,
    Conflict,
    NotFound,
    PreconditionFailed,
    TollgateError,
    ValidationFailed,
)
from broker.storage.interface import (
    CatalogBaseline,
    Change,
    Delete,
    EntityRef,
    Page,
    RegistryStore,
    RevisionInfo,
    Upsert,
)
from registry.canonical import entity_digest, entity_key, registry_entities, revision_hash
from registry.diff import RegistryDiff
from registry.diff import diff as registry_diff
from registry.errors import Problem, RegistryError
from registry.io import dump_registry, load_shipped
from registry.model import KIND_COLLECTIONS, KINDS, Registry
from registry.validate import validate

log = structlog.get_logger(__name__)

CommitListener = Callable[[RevisionInfo, Registry], None]
AuditHook = Callable[[dict[str, Any]], None]

SYSTEM_AUTHOR = "system"
_RETRIES = 5  # head moved under an unpinned write: rebuild on the new head and try again
_SMALL_DIFF = 200  # up to this many changed entities, diff() fetches them instead of two loads


@dataclass(frozen=True)
class BootstrapResult:
    revision: RevisionInfo | None
    """The revision created, or ``None`` when the store already had this catalog."""
    catalog_hash: str
    applied: Sequence[EntityRef] = ()
    conflicts: Sequence[EntityRef] = ()
    """Entities an officer had edited that the catalog upgrade replaced (see module doc)."""


def problems_error(problems: Sequence[Problem], what: str = "registry change rejected") -> ValidationFailed:
    """A 422 naming every problem (first few in the message, all in ``details``)."""
    shown = "; ".join(str(p) for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return ValidationFailed(f"{what}: {shown}{more}", details=[p.as_dict() for p in problems])


def _with(reg: Registry, kind: str, items: dict[str, BaseModel]) -> Registry:
    # model_copy skips re-validating 10,000 unchanged entities; the result is validated as a whole.
    return reg.model_copy(update={KIND_COLLECTIONS[kind]: items})


def _collection(reg: Registry, kind: str) -> dict[str, BaseModel]:
    items: dict[str, BaseModel] = getattr(reg, KIND_COLLECTIONS[kind])
    return items


def _apply(reg: Registry, changes: Iterable[Change]) -> Registry:
    """``reg`` with ``changes`` applied, copying only the collections that change."""
    touched: dict[str, dict[str, BaseModel]] = {}
    for change in changes:
        items = touched.setdefault(change.kind, dict(_collection(reg, change.kind)))
        if isinstance(change, Upsert):
            items[entity_key(change.entity)] = change.entity
        else:
            items.pop(change.key, None)
    for kind, items in touched.items():
        reg = _with(reg, kind, items)
    return reg


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise NotFound(f"unknown entity kind {kind!r}", details={"known": sorted(KINDS)})


class RegistryService:
    """Revisioned registry operations over a :class:`RegistryStore`."""

    def __init__(self, store: RegistryStore, *, audit: AuditHook | None = None) -> None:
        self.store = store
        self._audit = audit
        self._listeners: list[CommitListener] = []
        self._lock = threading.RLock()  # one writer per process; the store serialises processes
        self._head: tuple[RevisionInfo | None, Registry] | None = None

    # -- head cache and listeners -----------------------------------------------------------

    def on_commit(self, callback: CommitListener) -> Callable[[], None]:
        """Call ``callback(revision, registry)`` after every new head; returns an unsubscribe.

        Listener errors are logged, never raised: the revision is durable by then.
        """
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def current(self) -> tuple[RevisionInfo | None, Registry]:
        """The head revision and its registry, from memory after the first call."""
        cached = self._head
        if cached is None:
            with self._lock:
                cached = self._head or self._load_head()
                self._head = cached
        return cached

    def refresh(self) -> bool:
        """Pick up revisions committed by other processes; True (and listeners told) if any."""
        with self._lock:
            info = self.store.head()
            cached = self._head
            if cached is not None and _number(cached[0]) == _number(info):
                return False
            self._head = self._load_head()
            if self._head[0] is not None:
                self._notify(self._head[0], self._head[1])
            return True

    def _load_head(self) -> tuple[RevisionInfo | None, Registry]:
        info = self.store.head()
        # Load by number: a commit landing between the two calls must not mix revisions.
        return info, self.store.load(info.number if info else 0)

    def _fresh_head(self) -> tuple[RevisionInfo | None, Registry]:
        """The cached head, reloaded first if another process moved the store's head."""
        info = self.store.head()
        cached = self._head
        if cached is None or _number(cached[0]) != _number(info):
            cached = self._load_head()
            self._head = cached
        return cached

    def _notify(self, info: RevisionInfo, reg: Registry) -> None:
        for listener in list(self._listeners):
            try:
                listener(info, reg)
            except Exception:
                log.exception("registry.listener_failed", revision=info.number)

    # -- writes -----------------------------------------------------------------------------

    def _write(
        self,
        build: Callable[[Registry], Sequence[Change]],
        author: str,
        message: str | Callable[[], str],
        expected_head: int | None,
        baseline: Callable[[], CatalogBaseline | None] | None = None,
    ) -> RevisionInfo | None:
        """Build changes on the head, validate the result, commit; retry if the head moved.

        With ``expected_head`` (an HTTP If-Match) a moved head is a 412 instead of a retry.
        Returns ``None`` if ``build`` produced nothing to do. ``message`` may be computed after
        ``build`` (a catalog upgrade names its conflicts).
        """
        with self._lock:
            for _ in range(_RETRIES):
                info, reg = self._fresh_head()
                number = _number(info)
                if expected_head is not None and expected_head != number:
                    raise PreconditionFailed(
                        f"registry is at revision {number}, not {expected_head}",
                        details={"head": number, "expected": expected_head},
                    )
                changes = build(reg)
                base = baseline() if baseline else None
                if not changes and base is None:
                    return None
                candidate = _apply(reg, changes)
                problems = validate(candidate)
                if problems:
                    raise problems_error(problems)
                try:
                    text = message if isinstance(message, str) else message()
                    new = self.store.commit(changes, author, text, expected_head=number or None, baseline=base)
                except Conflict:
                    if expected_head is not None:
                        raise PreconditionFailed("the registry changed meanwhile; reload") from None
                    continue
                if new.number == number:
                    return new  # identical content: the store made no revision
                self._head = (new, candidate)
                self._after_commit(new, candidate)
                return new
        raise Conflict("the registry kept changing under this write; retry")

    def _after_commit(self, info: RevisionInfo, reg: Registry) -> None:
        self._notify(info, reg)
        if self._audit is None:
            return
        record = {
            "action": "registry.revision",
            "actor": info.author,
            "revision": info.number,
            "parent": info.parent,
            "hash": info.hash,
            "message": info.message,
            "counts": dict(info.counts),
            "changes": dict(info.changes),
        }
        try:
            self._audit(record)
        except Exception as exc:
            # The revision is committed (and in history); the caller must learn the audit failed.
            raise AuditUnavailable(
                f"revision {info.number} committed but not audited: {exc}",
                details={"revision": info.number},
            ) from exc

    def create(self, entity: BaseModel, author: str, message: str, expected_head: int | None = None) -> RevisionInfo:
        kind = _kind_of(entity)
        key = entity_key(entity)

        def build(reg: Registry) -> Sequence[Change]:
            if key in _collection(reg, kind):
                raise Conflict(f"{kind} {key!r} already exists", details={"kind": kind, "id": key})
            return [Upsert(kind, entity)]

        return self._must(self._write(build, author, message, expected_head))

    def update(
        self, key: str, entity: BaseModel, author: str, message: str, expected_head: int | None = None
    ) -> RevisionInfo:
        kind = _kind_of(entity)
        if entity_key(entity) != key:
            raise ValidationFailed(
                f"the body's id {entity_key(entity)!r} does not match {key!r}",
                details=[{"kind": kind, "id": key, "path": "id", "message": "id does not match the URL"}],
            )

        def build(reg: Registry) -> Sequence[Change]:
            if key not in _collection(reg, kind):
                raise NotFound(f"{kind} {key!r} does not exist")
            return [Upsert(kind, entity)]

        return self._must(self._write(build, author, message, expected_head))

    def delete(self, kind: str, key: str, author: str, message: str, expected_head: int | None = None) -> RevisionInfo:
        _check_kind(kind)

        def build(reg: Registry) -> Sequence[Change]:
            if key not in _collection(reg, kind):
                raise NotFound(f"{kind} {key!r} does not exist")
            return [Delete(kind, key)]

        return self._must(self._write(build, author, message, expected_head))

    def import_registry(self, reg: Registry, author: str, message: str) -> RevisionInfo | None:
        """Make ``reg`` the whole registry, as one revision (all or nothing).

        Entities absent from ``reg`` are deleted. Returns ``None`` if the content is already
        exactly ``reg`` (no empty revision is made).
        """
        problems = validate(reg)
        if problems:
            raise problems_error(problems, "import rejected")
        wanted = {(kind, entity_key(e)): e for kind, e in registry_entities(reg)}

        def build(head: Registry) -> Sequence[Change]:
            have = {(kind, entity_key(e)): e for kind, e in registry_entities(head)}
            changes: list[Change] = [
                Upsert(kind, e) for (kind, key), e in wanted.items() if have.get((kind, key)) != e
            ]
            changes += [Delete(kind, key) for kind, key in have.keys() - wanted.keys()]
            return changes

        return self._write(build, author, message, expected_head=None)

    def bootstrap_shipped(self, include_demo: bool = False, catalog: Registry | None = None) -> BootstrapResult:
        """Load the shipped catalog on first start; apply catalog upgrades as a new revision.

        ``catalog`` overrides the shipped files (tests). See the module doc for the merge rule.
        """
        if catalog is None:
            try:
                catalog = load_shipped(include_demo)
            except RegistryError as exc:
                raise problems_error(exc.problems, "shipped catalog invalid") from exc
        shipped = {(kind, entity_key(e)): e for kind, e in registry_entities(catalog)}
        digests = {ref: entity_digest(e) for ref, e in shipped.items()}
        cat_hash = revision_hash((k, key, d) for (k, key), d in digests.items())
        new_base = CatalogBaseline(cat_hash, digests)
        applied: list[EntityRef] = []
        conflicts: list[EntityRef] = []

        def build(head_reg: Registry) -> Sequence[Change]:
            applied.clear()
            conflicts.clear()
            old = self.store.catalog_baseline()
            if old is not None and old.hash == cat_hash:
                return []
            old_digests = old.digests if old else {}
            have = self.store.digests()  # a stale read only makes the commit conflict and retry
            changes: list[Change] = []
            for ref in sorted(digests.keys() | old_digests.keys()):
                new_d, base_d, head_d = digests.get(ref), old_digests.get(ref), have.get(ref)
                if new_d in (base_d, head_d):
                    continue
                if head_d != base_d:
                    conflicts.append(ref)
                applied.append(ref)
                kind, key = ref
                changes.append(Upsert(kind, shipped[ref]) if ref in shipped else Delete(kind, key))
            return changes

        def baseline() -> CatalogBaseline | None:
            old = self.store.catalog_baseline()
            return None if old is not None and old.hash == cat_hash else new_base

        first = self.store.head() is None

        def message() -> str:
            text = f"shipped catalog {cat_hash}" if first else f"catalog upgrade {cat_hash}"
            if conflicts:
                names = ", ".join(f"{k} {key}" for k, key in conflicts[:20])
                more = f" and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
                text += f"; replaced local edits of {names}{more}"
            return text

        info = self._write(build, SYSTEM_AUTHOR, message, expected_head=None, baseline=baseline)
        if info is not None and conflicts:
            log.warning("registry.catalog_conflicts", revision=info.number, conflicts=conflicts)
        return BootstrapResult(info, cat_hash, tuple(applied), tuple(conflicts))

    def readiness(self) -> tuple[bool, str]:
        """For ``/readyz``: the store answers and a catalog has been loaded."""
        try:
            self.store.ping()
            info = self.store.head()
        except TollgateError as exc:
            return False, exc.message
        if info is None:
            return False, "registry is empty: the shipped catalog has not been loaded"
        return True, f"registry revision {info.number} {info.hash}"

    # -- reads ------------------------------------------------------------------------------

    def head(self) -> RevisionInfo | None:
        return self.store.head()

    def revision(self, number: int) -> RevisionInfo:
        return self.store.revision(number)

    def history(self, offset: int = 0, limit: int = 100) -> Page[RevisionInfo]:
        return self.store.history(offset, limit)

    def load(self, revision: int | None = None) -> Registry:
        if revision is None:
            return self._fresh_head()[1]
        return self.store.load(revision)

    def get(self, kind: str, key: str, revision: int | None = None) -> BaseModel:
        _check_kind(kind)
        entity = self.store.get(kind, key, revision)
        if entity is None:
            at = "" if revision is None else f" at revision {revision}"
            raise NotFound(f"{kind} {key!r} does not exist{at}", details={"kind": kind, "id": key})
        return entity

    def list(
        self, kind: str, revision: int | None = None, offset: int = 0, limit: int = 100, query: str | None = None
    ) -> Page[BaseModel]:
        _check_kind(kind)
        return self.store.list(kind, revision, offset, limit, query)

    def export(self, out_dir: Path, revision: int | None = None) -> builtins.list[Path]:
        """Write the registry at ``revision`` (default head) as YAML files into ``out_dir``."""
        return dump_registry(self.store.load(revision), out_dir)

    def diff(self, a: int, b: int) -> RegistryDiff:
        """Field-level differences from revision ``a`` to ``b``."""
        refs = self.store.diff(a, b)
        touched = [*refs.added, *refs.removed, *refs.changed]
        if len(touched) > _SMALL_DIFF:
            return registry_diff(self.store.load(a), self.store.load(b))
        # Only the entities that differ are fetched; registry_diff sees identical rest as empty.
        return registry_diff(self._subset(touched, a), self._subset(touched, b))

    def _subset(self, refs: Iterable[EntityRef], revision: int) -> Registry:
        buckets: dict[str, dict[str, BaseModel]] = {}
        for kind, key in refs:
            entity = self.store.get(kind, key, revision)
            if entity is not None:
                buckets.setdefault(KIND_COLLECTIONS[kind], {})[key] = entity
        return Registry.model_validate(buckets)

    @staticmethod
    def _must(info: RevisionInfo | None) -> RevisionInfo:
        if info is None:  # build() always returns a change for single-entity writes
            raise ValidationFailed("nothing to change")
        return info


def _number(info: RevisionInfo | None) -> int:
    return info.number if info else 0


def _kind_of(entity: BaseModel) -> str:
    for kind, cls in KINDS.items():
        if type(entity) is cls:
            return kind
    raise ValidationFailed(f"{type(entity).__name__} is not a registry entity")
