"""Ready-made :class:`RegistrySource` implementations.

``StaticRegistrySource`` serves fixed registries (tests, the CLI, a broker without history);
``ServiceRegistrySource`` adapts anything with ``head()``/``load(revision)`` returning
``(revision, Registry)`` or a ``Registry`` (the registry feature's service). Compiled documents are
cached per revision: a revision is immutable, and compiling 1,000 tenants takes a while.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from registry.model import Registry


def _compile(reg: Registry) -> dict[str, Any]:
    from broker.policy.datadoc import compile_data_document

    return compile_data_document(reg)


class _Cache:
    def __init__(self, size: int = 8) -> None:
        self._items: OrderedDict[int, Mapping[str, Any]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, revision: int, build: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any]:
        with self._lock:
            if revision in self._items:
                self._items.move_to_end(revision)
                return self._items[revision]
        doc = build()
        with self._lock:
            self._items[revision] = doc
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return doc


class StaticRegistrySource:
    """Registries by revision; the highest revision is the head."""

    def __init__(self, registries: Mapping[int, Registry]) -> None:
        if not registries:
            raise ValueError("StaticRegistrySource needs at least one registry")
        self._registries = dict(registries)
        self._cache = _Cache()

    def set(self, revision: int, reg: Registry) -> None:
        self._registries[revision] = reg

    def data_document(self, revision: int | None = None) -> tuple[int, Mapping[str, Any]]:
        rev = max(self._registries) if revision is None else revision
        if rev not in self._registries:
            raise KeyError(f"unknown registry revision {rev}")
        return rev, self._cache.get(rev, lambda: _compile(self._registries[rev]))


class ServiceRegistrySource:
    """Adapter over a registry service: ``head_revision()`` + ``load(revision) -> Registry``."""

    def __init__(self, head_revision: Callable[[], int], load: Callable[[int], Registry]) -> None:
        self._head = head_revision
        self._load = load
        self._cache = _Cache()

    @classmethod
    def from_service(cls, service: Any) -> ServiceRegistrySource:
        """For ``broker.registry.service.RegistryService`` (``head() -> RevisionInfo | None``)."""

        def head() -> int:
            info = service.head()
            if info is None:
                raise LookupError("the registry is empty")
            return int(info.number)

        return cls(head, service.load)

    def data_document(self, revision: int | None = None) -> tuple[int, Mapping[str, Any]]:
        rev = self._head() if revision is None else revision
        return rev, self._cache.get(rev, lambda: _compile(self._load(rev)))


class AuditDecisionHistory:
    """:class:`DecisionHistory` over the audit log's reader (``search(after=, limit=, since=)``).

    Reads pages of 1,000 published records from the search index by time; only ``kind ==
    "decision"`` records with a single engine input are returned (route tables and batch summaries
    are skipped: they cannot be replayed as one decision).
    """

    def __init__(self, reader: Any, page: int = 1000) -> None:
        self._reader = reader
        self._page = page

    def iter_decisions(self, since: datetime) -> Iterator[Mapping[str, Any]]:
        after = -1
        while True:
            hits = self._reader.search(limit=self._page, after=after, since=since.timestamp())
            for hit in hits:
                record = hit["record"]
                if record.get("kind") == "decision" and is_engine_input(record.get("input")):
                    yield record
            if len(hits) < self._page:
                return
            after = hits[-1]["index"]


def is_engine_input(value: Any) -> bool:
    return isinstance(value, dict) and all(k in value for k in ("tenant", "target", "model", "now_ns"))
