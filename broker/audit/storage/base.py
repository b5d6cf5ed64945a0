"""Storage interfaces for the audit log.

Two concerns are kept apart so that drivers can mix: :class:`LogStorage` holds the published,
static tlog-tiles objects (checkpoint, tiles, entry bundles, blobs, key history) and could be a
directory, an object store or a CDN origin; :class:`SequenceStore` durably assigns indexes to
records before the tree exists and could be a local file or a PostgreSQL table.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence

_SAFE_PATH = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
CHECKPOINT_PATH = "checkpoint"


def check_object_path(path: str) -> str:
    """Reject absolute paths, ``..``/``.`` components and unusual characters."""
    if not _SAFE_PATH.match(path) or any(p in (".", "..") for p in path.split("/")):
        raise ValueError(f"unsafe storage path {path!r}")
    return path


class LogStorage(ABC):
    """Key/value object storage for published log objects. Paths use '/' separators."""

    @abstractmethod
    def get(self, path: str) -> bytes:
        """Object bytes; raise :class:`broker.errors.NotFound` if absent."""

    @abstractmethod
    def put(self, path: str, data: bytes) -> None:
        """Write an object atomically (readers see old or new bytes, never a mix)."""

    def put_many(self, objects: Mapping[str, bytes]) -> None:
        """Write several objects; drivers may do it in parallel. Each write is atomic."""
        for path, data in objects.items():
            self.put(path, data)

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def delete(self, path: str) -> None:
        """Remove an object; absent objects are ignored."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Every object path starting with ``prefix``, in no particular order."""

    @abstractmethod
    def sync(self) -> None:
        """Make every completed :meth:`put` durable (a barrier before publishing)."""

    def publish_checkpoint(self, data: bytes) -> None:
        """Durably publish a new checkpoint after everything it covers is durable."""
        self.sync()
        self.put(CHECKPOINT_PATH, data)
        self.sync()

    def get_checkpoint(self) -> bytes | None:
        return self.get(CHECKPOINT_PATH) if self.exists(CHECKPOINT_PATH) else None


class SequenceStore(ABC):
    """Durable, ordered record sequence: the log's source of truth before integration."""

    @abstractmethod
    def open(self) -> int:
        """Recover (dropping any torn tail) and return the number of durable records."""

    @abstractmethod
    def append(self, records: Sequence[bytes]) -> int:
        """Durably append a batch in one sync; return the index of its first record."""

    @abstractmethod
    def read(self, start: int, end: int) -> list[bytes]:
        """Records ``[start, end)``; raise LogCorrupt if they are not all there."""

    @abstractmethod
    def size(self) -> int: ...

    def mark_integrated(self, size: int) -> None:  # noqa: B027 - optional hook
        """Hint that records below ``size`` are in the tree (lets recovery skip them)."""

    @abstractmethod
    def close(self) -> None: ...
