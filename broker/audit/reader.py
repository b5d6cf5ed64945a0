"""Read-only view of a log directory: checkpoint, entries, proofs, receipts and search.

Used by the running :class:`~broker.audit.log.AuditLog` and by offline tools (CLI) alike; it
only trusts what is published (the checkpoint and the tiles it covers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from broker.audit.checkpoint import Checkpoint, parse_checkpoint
from broker.audit.index import SearchIndex
from broker.audit.keys import KEY_HISTORY_PATH, KeyPeriod, parse_key_history
from broker.audit.note import parse_note
from broker.audit.proofs import TileReader, format_receipt
from broker.audit.records import index_fields
from broker.audit.storage.base import LogStorage
from broker.audit.storage.fs import FsLogStorage
from broker.audit.tiles import ENTRIES_LEVEL, TILE_WIDTH, decode_bundle
from broker.errors import AuditUnavailable, BadRequest, NotFound

PUBLIC_DIR = "public"
INDEX_FILE = "index.sqlite"


class LogReader:
    """Answers auditor questions from published log objects and the search index."""

    def __init__(self, storage: LogStorage, index: SearchIndex | None = None) -> None:
        self.storage = storage
        self.index = index

    @classmethod
    def open(cls, directory: Path) -> LogReader:
        """Open a log directory written by :class:`AuditLog` (no signing key needed)."""
        if not (directory / PUBLIC_DIR / "checkpoint").is_file():
            raise NotFound(f"no audit log checkpoint under {directory}")
        return cls(FsLogStorage(directory / PUBLIC_DIR), SearchIndex(directory / INDEX_FILE))

    def checkpoint_note(self) -> bytes:
        data = self.storage.get_checkpoint()
        if data is None:
            raise AuditUnavailable("the audit log has not published a checkpoint yet")
        return data

    def checkpoint(self) -> Checkpoint:
        text, _ = parse_note(self.checkpoint_note())
        return parse_checkpoint(text)

    def _size(self, size: int | None) -> int:
        latest = self.checkpoint().size
        if size is None:
            return latest
        if not 0 < size <= latest:
            raise BadRequest(f"tree size {size} is not between 1 and the checkpoint size {latest}")
        return size

    def tiles(self, size: int | None = None) -> TileReader:
        return TileReader(self.storage, self._size(size))

    def key_history(self) -> tuple[bytes | None, list[KeyPeriod]]:
        if not self.storage.exists(KEY_HISTORY_PATH):
            return None, []
        data = self.storage.get(KEY_HISTORY_PATH)
        text, _ = parse_note(data)
        return data, parse_key_history(text)[1]

    def entries(self, start: int, end: int) -> list[bytes]:
        """Published entries ``[start, end)``."""
        size = self.checkpoint().size
        if not 0 <= start <= end <= size:
            raise BadRequest(f"entry range [{start}, {end}) is outside the log of size {size}")
        reader = TileReader(self.storage, size)
        out: list[bytes] = []
        for bundle in range(start // TILE_WIDTH, (end + TILE_WIDTH - 1) // TILE_WIDTH):
            entries = decode_bundle(reader.read(ENTRIES_LEVEL, bundle))
            lo = bundle * TILE_WIDTH
            out += entries[max(start - lo, 0) : end - lo]
        return out

    def entry(self, index: int) -> bytes:
        return self.entries(index, index + 1)[0]

    def find_decision(self, decision_id: str) -> int:
        if self.index is None:
            raise AuditUnavailable("the audit search index is not available")
        idx = self.index.lookup_decision(decision_id)
        if idx is None or idx >= self.checkpoint().size:
            raise NotFound(f"decision {decision_id} is not in a published checkpoint yet")
        return idx

    def inclusion_proof(self, index: int, size: int | None = None) -> dict[str, Any]:
        reader = self.tiles(size)
        if not 0 <= index < reader.size:
            raise BadRequest(f"leaf index {index} is outside the tree of size {reader.size}")
        return {"index": index, "tree_size": reader.size,
                "proof": reader.inclusion_proof(index)}

    def consistency_proof(self, old: int, new: int | None = None) -> dict[str, Any]:
        reader = self.tiles(new)
        if not 0 < old <= reader.size:
            raise BadRequest(f"old size {old} must be between 1 and {reader.size}")
        return {"old_size": old, "tree_size": reader.size,
                "proof": reader.consistency_proof(old)}

    def receipt(self, index: int) -> bytes:
        """A c2sp.org/tlog-proof for ``index`` against the latest checkpoint (entry in extra)."""
        note = self.checkpoint_note()
        text, _ = parse_note(note)
        size = parse_checkpoint(text).size
        if not 0 <= index < size:
            raise NotFound(f"leaf {index} is not covered by the latest checkpoint (size {size})")
        reader = TileReader(self.storage, size)
        return format_receipt(index, reader.inclusion_proof(index), note, reader.entry(index))

    def search(self, *, limit: int = 100, after: int = -1, **filters: Any) -> list[dict[str, Any]]:
        """Matching published records as ``{"index", "record"}`` dicts, ascending."""
        if self.index is None:
            raise AuditUnavailable("the audit search index is not available")
        if not 1 <= limit <= 1000:
            raise BadRequest("limit must be between 1 and 1000")
        size = self.checkpoint().size
        hits = [i for i in self.index.search(after=after, limit=limit, **filters) if i < size]
        return [{"index": i, "record": json.loads(self.entry(i))} for i in hits]

    def reindex(self, size: int) -> None:
        """Bring the search index up to ``size`` from published entry bundles."""
        if self.index is None:
            return
        start = self.index.size()
        step = TILE_WIDTH * 64
        for lo in range(start, size, step):
            hi = min(size, lo + step)
            self.index.add(lo, [index_fields(e) for e in self.entries(lo, hi)])
