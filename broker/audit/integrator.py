"""Folds sequenced entries into tlog-tiles: full tiles as they fill, partial tiles on demand.

In memory the builder keeps only the unfinished tile at every level (at most 256 hashes each)
and the unfinished entry bundle, so memory stays bounded however large the log grows.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.audit import merkle
from broker.audit.errors import LogCorrupt
from broker.audit.storage.base import LogStorage
from broker.audit.tiles import (
    ENTRIES_LEVEL,
    TILE_HEIGHT,
    TILE_WIDTH,
    decode_bundle,
    encode_bundle,
    partial_width,
    root_from_levels,
    split_hashes,
    tile_path,
)
from broker.errors import NotFound


class TreeBuilder:
    """Incremental tile writer for one log; not thread-safe (the integrator owns it)."""

    def __init__(self, storage: LogStorage) -> None:
        self.storage = storage
        self.size = 0
        self.pending: list[list[bytes]] = [[]]
        self.entries: list[bytes] = []
        self._writes: dict[str, bytes] = {}

    def append(self, entries: Sequence[bytes]) -> None:
        """Add entries in order, writing every tile and bundle that becomes full.

        Full tiles are written together at the end (in parallel where the storage can); if
        that fails, this builder is stale and must be reloaded from storage.
        """
        self._writes = {}
        for e in entries:
            self.entries.append(e)
            self.size += 1
            if len(self.entries) == TILE_WIDTH:
                index = (self.size - 1) // TILE_WIDTH
                self._writes[tile_path(ENTRIES_LEVEL, index)] = encode_bundle(self.entries)
                self.entries = []
            self._add(0, merkle.hash_leaf(e))
        writes, self._writes = self._writes, {}
        self.storage.put_many(writes)

    def _add(self, level: int, h: bytes) -> None:
        while True:
            if level == len(self.pending):
                self.pending.append([])
            row = self.pending[level]
            row.append(h)
            if len(row) < TILE_WIDTH:
                return
            index = (self.size >> (TILE_HEIGHT * level)) // TILE_WIDTH - 1
            self._writes[tile_path(level, index)] = b"".join(row)
            h = merkle.root_of(row)
            self.pending[level] = []
            level += 1

    def root(self) -> bytes:
        return root_from_levels(self.pending)

    def write_partials(self) -> set[str]:
        """Write the partial tiles and bundle for the current size; return their paths."""
        writes: dict[str, bytes] = {}
        if self.entries:
            p = tile_path(ENTRIES_LEVEL, self.size // TILE_WIDTH, len(self.entries))
            writes[p] = encode_bundle(self.entries)
        for level, row in enumerate(self.pending):
            if row:
                index = (self.size >> (TILE_HEIGHT * level)) // TILE_WIDTH
                writes[tile_path(level, index, len(row))] = b"".join(row)
        self.storage.put_many(writes)
        return set(writes)

    @classmethod
    def load(cls, storage: LogStorage, size: int, root: bytes) -> TreeBuilder:
        """Rebuild the in-memory state for a published ``size`` from its partial tiles.

        Raises :class:`LogCorrupt` if a tile is missing or the state does not hash to ``root``.
        """
        b = cls(storage)
        b.size = size
        try:
            w = size % TILE_WIDTH
            if w:
                data = storage.get(tile_path(ENTRIES_LEVEL, size // TILE_WIDTH, w))
                b.entries = decode_bundle(data, expected=w)
            level, b.pending = 0, []
            while size >> (TILE_HEIGHT * level):
                w = partial_width(size, level)
                row: list[bytes] = []
                if w:
                    index = (size >> (TILE_HEIGHT * level)) // TILE_WIDTH
                    row = split_hashes(storage.get(tile_path(level, index, w)))
                    if len(row) != w:
                        raise LogCorrupt(f"partial tile {tile_path(level, index, w)} is short")
                b.pending.append(row)
                level += 1
            if not b.pending:
                b.pending = [[]]
        except NotFound as exc:
            raise LogCorrupt(f"tile missing for published size {size}: {exc.message}") from exc
        if b.root() != root:
            raise LogCorrupt(f"stored tiles do not hash to the published root at size {size}")
        return b
