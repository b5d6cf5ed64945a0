"""C2SP tlog-tiles layout (https://c2sp.org/tlog-tiles): paths, entry bundles, tile maths.

Tiles have height 8 and width 256: tile ``(L, N)`` holds the hashes of the perfect subtrees at
Merkle level ``8 * L`` with indexes ``N * 256 ... N * 256 + 255``. A partial tile of width W
holds only the first W of them and is named ``.p/W``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Sequence

from broker.audit import merkle
from broker.audit.errors import InvalidRecord, LogCorrupt

TILE_HEIGHT = 8
TILE_WIDTH = 256
MAX_ENTRY_SIZE = 0xFFFF
ENTRIES_LEVEL = -1  # pseudo-level used for entry bundles in path helpers
_PATH_RE = re.compile(r"^tile/(entries|[0-9]|[1-5][0-9]|6[0-3])/((?:x[0-9]{3}/)*[0-9]{3})"
                      r"(?:\.p/([1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$")


def encode_index(n: int) -> str:
    """``1234067`` -> ``x001/x234/067``: 3-digit groups, all but the last prefixed by x."""
    if n < 0:
        raise ValueError("tile index must be non-negative")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """Path of a hash tile (``level >= 0``) or entry bundle (``level == ENTRIES_LEVEL``)."""
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} out of range")
    head = "entries" if level == ENTRIES_LEVEL else str(level)
    path = f"tile/{head}/{encode_index(index)}"
    return path if width == TILE_WIDTH else f"{path}.p/{width}"


def parse_tile_path(path: str) -> tuple[int, int, int]:
    """Inverse of :func:`tile_path`: ``(level, index, width)``; raises ValueError if invalid."""
    m = _PATH_RE.match(path)
    if not m:
        raise ValueError(f"not a tile path: {path!r}")
    head, digits, width = m.groups()
    index = int("".join(g.lstrip("x") for g in digits.split("/")))
    if encode_index(index) != digits:
        raise ValueError(f"non-canonical tile index in {path!r}")
    level = ENTRIES_LEVEL if head == "entries" else int(head)
    return level, index, int(width) if width else TILE_WIDTH


def partial_width(size: int, level: int) -> int:
    """Width of the rightmost (partial) tile at ``level`` for a tree of ``size``; 0 if none."""
    return (size >> (TILE_HEIGHT * level)) % TILE_WIDTH


def tiles_for_size(size: int) -> Iterator[tuple[int, int, int]]:
    """Every ``(level, index, width)`` hash tile that a tree of ``size`` consists of."""
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        for n in range(count // TILE_WIDTH):
            yield level, n, TILE_WIDTH
        if count % TILE_WIDTH:
            yield level, count // TILE_WIDTH, count % TILE_WIDTH
        level += 1


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """Entry bundle: each entry as big-endian uint16 length, then the bytes."""
    out = bytearray()
    for e in entries:
        if len(e) > MAX_ENTRY_SIZE:
            raise InvalidRecord(f"entry of {len(e)} bytes exceeds {MAX_ENTRY_SIZE}")
        out += struct.pack(">H", len(e))
        out += e
    return bytes(out)


def decode_bundle(data: bytes, expected: int | None = None) -> list[bytes]:
    """Split an entry bundle; raise :class:`LogCorrupt` on a truncated or padded bundle."""
    entries: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise LogCorrupt("entry bundle ends inside a length prefix")
        n = (data[pos] << 8) | data[pos + 1]
        pos += 2
        if pos + n > end:
            raise LogCorrupt("entry bundle ends inside an entry")
        entries.append(data[pos : pos + n])
        pos += n
    if expected is not None and len(entries) != expected:
        raise LogCorrupt(f"entry bundle holds {len(entries)} entries, expected {expected}")
    return entries


def split_hashes(tile: bytes) -> list[bytes]:
    if len(tile) % merkle.HASH_SIZE or not tile:
        raise LogCorrupt(f"tile of {len(tile)} bytes is not a whole number of hashes")
    return [tile[i : i + 32] for i in range(0, len(tile), 32)]


def root_from_levels(pending: Sequence[Sequence[bytes]]) -> bytes:
    """Tree root from the not-yet-full tile contents of every level (lowest level first).

    The rightmost partial subtree at each level acts as one extra node for the level above,
    which reproduces RFC 6962's left-balanced split exactly (sizes are multiples of 256 there).
    """
    carry: bytes | None = None
    for hashes in pending:
        nodes = [*hashes, carry] if carry is not None else list(hashes)
        carry = merkle.root_of(nodes) if nodes else None
    return carry if carry is not None else merkle.EMPTY_ROOT
