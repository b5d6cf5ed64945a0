"""The registry repository seam: what the broker needs from any store.

Storage keeps every revision of the registry (temporal rows), so a decision made against revision
``n`` can be replayed against exactly the same facts years later. Nothing here imports SQLAlchemy.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

from registry.model import Registry

T = TypeVar("T")

EntityRef = tuple[str, str]
"""``(kind, key)``: kind as in :data:`registry.model.KINDS`, key the entity's id/code."""


@dataclass(frozen=True)
class Upsert:
    """Create or replace one entity (its kind and key are taken from the entity itself)."""

    kind: str
    entity: BaseModel


@dataclass(frozen=True)
class Delete:
    kind: str
    key: str


Change = Upsert | Delete


@dataclass(frozen=True)
class RevisionInfo:
    """One registry revision: a monotonic number, the content hash and who/when/why."""

    number: int
    hash: str
    parent: int | None
    author: str
    created_at: datetime
    message: str
    counts: Mapping[str, int] = field(default_factory=dict)
    """Live entities per kind at this revision."""
    changes: Mapping[str, int] = field(default_factory=dict)
    """``added`` / ``changed`` / ``removed`` relative to the parent."""
    catalog_hash: str | None = None
    """Set on revisions that applied a shipped catalog: that catalog's content hash."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    revision: int


@dataclass(frozen=True)
class CatalogBaseline:
    """The shipped catalog as last applied: its hash and the digest of each of its entities.

    Kept so a later catalog upgrade can tell which entities the catalog changed (three-way merge)
    from which ones an officer changed locally.
    """

    hash: str
    digests: Mapping[EntityRef, str]


@dataclass(frozen=True)
class EntityDiff:
    added: Sequence[EntityRef]
    removed: Sequence[EntityRef]
    changed: Sequence[EntityRef]


class RegistryStore(abc.ABC):
    """Revisioned registry storage. Every method may raise :class:`broker.errors.StoreUnavailable`."""

    @abc.abstractmethod
    def head(self) -> RevisionInfo | None:
        """The newest revision, or ``None`` for an empty store."""

    @abc.abstractmethod
    def commit(
        self,
        changes: Sequence[Change],
        author: str,
        message: str,
        expected_head: int | None,
        *,
        baseline: CatalogBaseline | None = None,
    ) -> RevisionInfo:
        """Apply ``changes`` atomically as one new revision.

        ``expected_head`` is the revision the caller based its changes on (``None``: empty
        store); if the head moved meanwhile nothing is written and ``Conflict`` is raised. A later
        change to the same entity wins over an earlier one in ``changes``. Deleting an absent
        entity raises ``NotFound``. A commit that changes nothing creates no revision and
        returns the head, unless ``baseline`` is given (a catalog upgrade is always recorded).
        """

    @abc.abstractmethod
    def load(self, revision: int | None = None) -> Registry:
        """The whole registry as of ``revision`` (default: head); ``NotFound`` if unknown."""

    @abc.abstractmethod
    def get(self, kind: str, key: str, revision: int | None = None) -> BaseModel | None:
        """One entity as of ``revision`` (default: head), or ``None`` if it did not exist."""

    @abc.abstractmethod
    def list(
        self,
        kind: str,
        revision: int | None = None,
        offset: int = 0,
        limit: int = 100,
        query: str | None = None,
    ) -> Page[BaseModel]:
        """Entities of one kind ordered by key; ``query`` is a case-insensitive substring of the
        key or name."""

    @abc.abstractmethod
    def digests(self, revision: int | None = None) -> dict[EntityRef, str]:
        """``(kind, key) -> digest`` of every entity live at ``revision`` (cheap; no bodies)."""

    @abc.abstractmethod
    def diff(self, a: int, b: int) -> EntityDiff:
        """Entities added, removed and changed going from revision ``a`` to ``b``."""

    @abc.abstractmethod
    def history(self, offset: int = 0, limit: int = 100) -> Page[RevisionInfo]:
        """Revisions, newest first."""

    @abc.abstractmethod
    def revision(self, number: int) -> RevisionInfo:
        """One revision; ``NotFound`` if there is no such revision."""

    @abc.abstractmethod
    def catalog_baseline(self) -> CatalogBaseline | None:
        """The shipped catalog last recorded with :meth:`commit`, if any."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers (for ``/readyz``)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""
