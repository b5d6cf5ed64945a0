"""Proofs from stored tiles, and C2SP tlog-proof receipts (https://c2sp.org/tlog-proof).

A receipt is::

    c2sp.org/tlog-proof@v1
    extra <base64 record bytes>        (ours: the entry itself, so the receipt stands alone)
    index <n>
    <base64 hash>...                   (inclusion path, leaf sibling first)

    <checkpoint note, verbatim>
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from broker.audit import merkle
from broker.audit.checkpoint import Checkpoint, parse_checkpoint
from broker.audit.errors import InvalidNote, LogCorrupt
from broker.audit.note import Verifier, b64decode_strict, open_note
from broker.audit.storage.base import LogStorage
from broker.audit.tiles import (
    ENTRIES_LEVEL,
    TILE_HEIGHT,
    TILE_WIDTH,
    decode_bundle,
    encode_bundle,
    parse_tile_path,
    split_hashes,
    tile_path,
)
from broker.errors import NotFound

RECEIPT_HEADER = "c2sp.org/tlog-proof@v1"


class TileReader:
    """Reads tiles of a tree of a fixed ``size`` and serves perfect-subtree hashes."""

    def __init__(self, storage: LogStorage, size: int, cache_tiles: int = 256) -> None:
        self.storage = storage
        self.size = size
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._cache_max = cache_tiles

    def width(self, level: int, index: int) -> int:
        """Width of tile ``(level, index)`` in this tree (0 if it does not exist)."""
        count = self.size >> (TILE_HEIGHT * level) if level >= 0 else self.size
        if index < count // TILE_WIDTH:
            return TILE_WIDTH
        return count % TILE_WIDTH if index == count // TILE_WIDTH else 0

    def read(self, level: int, index: int) -> bytes:
        """Tile (or entry bundle for ``ENTRIES_LEVEL``) bytes as of this tree size.

        A partial tile may have been superseded by a wider one; its prefix is the same data.
        """
        key = (level, index)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        width = self.width(level, index)
        if width == 0:
            raise LogCorrupt(f"tile {level}/{index} is outside a tree of size {self.size}")
        data = self._read_prefix(level, index, width)
        self._cache[key] = data
        if len(self._cache) > self._cache_max:
            self._cache.popitem(last=False)
        return data

    def _read_prefix(self, level: int, index: int, width: int) -> bytes:
        exact = tile_path(level, index, width)
        for path in self._candidates(level, index, width):
            try:
                data = self.storage.get(path)
            except NotFound:
                continue
            if level == ENTRIES_LEVEL:
                entries = decode_bundle(data)
                if len(entries) < width:
                    raise LogCorrupt(f"entry bundle {path} is shorter than expected")
                return data if path == exact else encode_bundle(entries[:width])
            if len(data) < width * 32:
                raise LogCorrupt(f"tile {path} is shorter than expected")
            return data[: width * 32]
        raise LogCorrupt(f"tile {exact} is missing")

    def _candidates(self, level: int, index: int, width: int) -> Iterator[str]:
        """The exact tile, then the full one, then wider partials (listed only if needed)."""
        yield tile_path(level, index, width)
        yield tile_path(level, index)
        base = tile_path(level, index)
        widths = sorted((parse_tile_path(p)[2] for p in self.storage.list(base + ".p/")),
                        reverse=True)
        yield from (tile_path(level, index, w) for w in widths if w > width)

    def node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree at Merkle ``level`` and ``index``."""
        tile_level, rest = divmod(level, TILE_HEIGHT)
        lo = index << rest
        hashes = self.read(tile_level, lo // TILE_WIDTH)
        offset = lo % TILE_WIDTH
        sub = split_hashes(hashes)[offset : offset + (1 << rest)]
        if len(sub) != 1 << rest:
            raise LogCorrupt(f"node {level}/{index} is not in a tree of size {self.size}")
        return merkle.root_of(sub)

    def entry(self, index: int) -> bytes:
        bundle = decode_bundle(self.read(ENTRIES_LEVEL, index // TILE_WIDTH))
        return bundle[index % TILE_WIDTH]

    def root(self) -> bytes:
        return merkle.range_hash(0, self.size, self.node) if self.size else merkle.EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return merkle.inclusion_proof(index, size or self.size, self.node)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        return merkle.consistency_proof(old, new or self.size, self.node)


@dataclass(frozen=True)
class Receipt:
    """A parsed tlog-proof."""

    index: int
    proof: list[bytes]
    checkpoint_note: bytes
    extra: bytes | None


def format_receipt(index: int, proof: Sequence[bytes], checkpoint_note: bytes,
                   extra: bytes | None = None) -> bytes:
    lines = [RECEIPT_HEADER]
    if extra is not None:
        lines.append(f"extra {base64.b64encode(extra).decode()}")
    lines.append(f"index {index}")
    lines += [base64.b64encode(h).decode() for h in proof]
    return ("\n".join(lines) + "\n\n").encode() + checkpoint_note


def parse_receipt(data: bytes) -> Receipt:
    head, sep, checkpoint_note = data.partition(b"\n\n")
    if not sep:
        raise InvalidNote("receipt has no blank line before its checkpoint")
    lines = head.decode("utf-8", errors="replace").split("\n")
    if lines[0] != RECEIPT_HEADER:
        raise InvalidNote(f"receipt must start with {RECEIPT_HEADER}")
    pos, extra = 1, None
    if len(lines) > pos and lines[pos].startswith("extra "):
        extra = b64decode_strict(lines[pos][6:], "receipt extra data")
        pos += 1
    if len(lines) <= pos or not lines[pos].startswith("index ") or not lines[pos][6:].isdigit():
        raise InvalidNote("receipt is missing its 'index <n>' line")
    index = int(lines[pos][6:])
    proof = [b64decode_strict(h, "receipt proof hash") for h in lines[pos + 1 :]]
    if any(len(h) != 32 for h in proof):
        raise InvalidNote("receipt proof hash is not 32 bytes")
    return Receipt(index, proof, checkpoint_note, extra)


def verify_receipt(data: bytes, log_verifiers: Sequence[Verifier], entry: bytes | None = None,
                   witness_verifiers: Sequence[Verifier] = (), min_witnesses: int = 0,
                   ) -> tuple[Receipt, Checkpoint, bytes]:
    """Check a receipt's log signature, witness quorum and inclusion path.

    ``entry`` defaults to the receipt's ``extra`` bytes. Returns (receipt, checkpoint, entry).
    """
    from broker.audit.witness import require_cosignatures  # avoids an import cycle

    r = parse_receipt(data)
    text, _ = open_note(r.checkpoint_note, log_verifiers)
    cp = parse_checkpoint(text)
    if min_witnesses:
        require_cosignatures(r.checkpoint_note, witness_verifiers, min_witnesses)
    leaf = entry if entry is not None else r.extra
    if leaf is None:
        raise InvalidNote("receipt carries no entry; pass the entry bytes to verify")
    merkle.verify_inclusion(r.index, cp.size, merkle.hash_leaf(leaf), r.proof, cp.root)
    return r, cp, leaf
