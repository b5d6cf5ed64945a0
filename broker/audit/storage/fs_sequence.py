"""The local sequence store: framed batches in segment files, compacted once published.

Files under the sequence directory (``seq/`` of the log):

* ``records.log`` -- the active segment, the only one ever written. Header: magic ``TGSEQ002``
  and the u64 index of its first record (a ``TGSEQ001`` file, from before segments, starts at 0
  and has no index). Then batches, one per group commit: ``"TB"``, u32 count, u32 payload
  length, u32 crc32 of count+length+payload, then per record u32 length and the bytes. Only the
  last batch can be torn by a crash; recovery truncates it.
* ``records.<first>.log`` -- sealed segments. Once the active segment holds ``segment_bytes``,
  it is renamed (after its last fsync) and a new active segment starts at the next index.

Why segments: every record is also in the published entry tiles once a checkpoint covers it,
so keeping the sequence forever doubled the log on disk and kept an offset per record in
memory. ``mark_integrated(size)`` (called after each checkpoint is durably published) deletes
the sealed segments the published tree fully holds. Records below the oldest kept segment can
no longer be read from here; a reader asking for them gets :class:`LogCorrupt` (the log then
refuses to start rather than guess), because they should be read from the tiles.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
import struct
import threading
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from broker.audit.errors import LogCorrupt
from broker.audit.storage.base import SequenceStore

_MAGIC_V1 = b"TGSEQ001"  # no base index: starts at record 0
_MAGIC = b"TGSEQ002"
_HEADER_V2 = struct.Struct(">8sQ")
_BATCH = struct.Struct(">2sIII")
_BATCH_MAGIC = b"TB"
_REC = struct.Struct(">I")
DEFAULT_SEGMENT_BYTES = 64 << 20
# The active segment is opened with O_DSYNC: each write returns once it is durable, as
# write + fdatasync would, in one system call. That matters under Python: the sequencer
# thread must re-take the GIL after every blocking call, and while the request loop is busy
# each re-take can wait for a switch interval; one call per batch instead of two halved the
# commit latency and doubled pre-flights per second with the audit log on (measured).
_DSYNC = getattr(os, "O_DSYNC", 0)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (creations, renames, deletions) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Segment:
    """One segment file: where its records are (offsets into the file) and which they are."""

    path: Path
    first: int
    offsets: array[int] = field(default_factory=lambda: array("Q"))
    lengths: array[int] = field(default_factory=lambda: array("I"))
    rfd: int = -1

    @property
    def end(self) -> int:
        return self.first + len(self.offsets)

    def read(self, i: int) -> bytes:
        n = self.lengths[i - self.first]
        data = os.pread(self.rfd, n, self.offsets[i - self.first])
        if len(data) != n:
            raise LogCorrupt(f"sequence record {i} is truncated")
        return data

    def close(self) -> None:
        if self.rfd >= 0:
            os.close(self.rfd)
            self.rfd = -1


def _scan(path: Path, *, sealed: bool) -> tuple[_Segment, int, int]:
    """Read a segment's index: (segment, end of its last whole batch, file length)."""
    data = path.read_bytes()
    if data[:8] == _MAGIC_V1:
        first, pos = 0, 8
    elif data[:8] == _MAGIC and len(data) >= _HEADER_V2.size:
        first, pos = _HEADER_V2.unpack_from(data)[1], _HEADER_V2.size
    else:
        raise LogCorrupt(f"{path} is not an audit sequence file")
    seg = _Segment(path, first)
    total = len(data)
    view = memoryview(data)
    while pos < total:
        if pos + _BATCH.size > total:
            break  # torn header at the tail
        magic, count, plen, crc = _BATCH.unpack_from(data, pos)
        body = pos + _BATCH.size
        if magic != _BATCH_MAGIC or body + plen > total or zlib.crc32(
            view[pos + 2 : body - 4], zlib.crc32(view[body : body + plen])
        ) != crc:
            if magic == _BATCH_MAGIC and body + plen < total:
                # A complete batch that fails its checksum with data after it is not a
                # torn write (only the last, unsynced batch can be torn): refuse to guess.
                raise LogCorrupt(f"{path}: corrupt batch at byte {pos}")
            break
        rpos = body
        for _ in range(count):
            (n,) = _REC.unpack_from(data, rpos)
            seg.offsets.append(rpos + 4)
            seg.lengths.append(n)
            rpos += 4 + n
        if rpos != body + plen:
            raise LogCorrupt(f"{path}: batch at byte {pos} has inconsistent lengths")
        pos = rpos
    if sealed and pos != total:
        raise LogCorrupt(f"{path}: sealed segment ends in a partial batch at byte {pos}")
    return seg, pos, total


class FsSequenceStore(SequenceStore):
    """Append-only framed sequence in segment files; group-commit appends, torn-tail recovery."""

    def __init__(self, path: Path, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        self.path = Path(path)  # the active segment
        self.segment_bytes = segment_bytes
        self._fd = -1
        self._active = _Segment(self.path, 0)
        self._sealed: list[_Segment] = []
        self._end = 0
        self._lock = threading.Lock()  # the segment list: appends rotate, compaction deletes
        self.recovered_bytes = 0  # bytes of torn tail dropped by the last open()

    def _sealed_path(self, first: int) -> Path:
        return self.path.with_name(f"{self.path.stem}.{first:016d}{self.path.suffix}")

    def open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pattern = re.compile(re.escape(self.path.stem) + r"\.(\d{16})" + re.escape(self.path.suffix))
        sealed = sorted((p for p in self.path.parent.iterdir() if pattern.fullmatch(p.name)),
                        key=lambda p: p.name)
        self._sealed = []
        for p in sealed:
            seg, _, _ = _scan(p, sealed=True)
            if self._sealed and seg.first != self._sealed[-1].end:
                raise LogCorrupt(f"{p}: starts at record {seg.first}, expected {self._sealed[-1].end}")
            seg.rfd = os.open(p, os.O_RDONLY)
            self._sealed.append(seg)
        next_index = self._sealed[-1].end if self._sealed else 0
        if not self.path.exists() or self.path.stat().st_size == 0:
            # First start, or a crash between sealing the active segment and creating the next.
            self._create_active(next_index)
        self._fd = os.open(self.path, os.O_RDWR | _DSYNC)
        active, good, total = _scan(self.path, sealed=False)
        if self._sealed and active.first != next_index:
            raise LogCorrupt(f"{self.path}: starts at record {active.first}, expected {next_index}")
        self.recovered_bytes = total - good
        if good < total:
            os.ftruncate(self._fd, good)
            os.fsync(self._fd)
        active.rfd = os.open(self.path, os.O_RDONLY)
        self._active, self._end = active, good
        os.lseek(self._fd, good, os.SEEK_SET)
        return active.end

    def _create_active(self, first: int) -> None:
        tmp = self.path.with_name(self.path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, _HEADER_V2.pack(_MAGIC, first))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)

    def _rotate(self) -> None:
        """Seal the (fully synced) active segment and start the next one."""
        old = self._active
        sealed_path = self._sealed_path(old.first)
        os.close(self._fd)
        self._fd = -1
        os.replace(self.path, sealed_path)
        self._create_active(old.end)
        fd = os.open(self.path, os.O_RDWR | _DSYNC)
        rfd = os.open(self.path, os.O_RDONLY)
        with self._lock:
            old.path = sealed_path  # the read descriptor stays valid across the rename
            self._sealed.append(old)
            self._active = _Segment(self.path, old.end, rfd=rfd)
            self._fd, self._end = fd, os.lseek(fd, 0, os.SEEK_END)

    def append(self, records: Sequence[bytes]) -> int:
        if self._fd < 0:
            raise LogCorrupt("sequence store is not open")
        if self._end >= self.segment_bytes and len(self._active.offsets):
            self._rotate()
        active = self._active
        first = active.end
        parts: list[bytes] = []
        for r in records:
            parts.append(_REC.pack(len(r)))
            parts.append(r)
        payload = b"".join(parts)
        head = struct.pack(">II", len(records), len(payload))
        crc = zlib.crc32(head, zlib.crc32(payload))
        buf = memoryview(_BATCH_MAGIC + head + struct.pack(">I", crc) + payload)
        start = self._end
        try:
            while buf:
                buf = buf[os.write(self._fd, buf) :]
            if not _DSYNC:
                os.fsync(self._fd)
        except OSError:
            # Leave the file as it was so a later recovery sees at most a torn tail.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
                os.lseek(self._fd, start, os.SEEK_SET)
            raise
        pos = start + _BATCH.size
        for r in records:
            active.offsets.append(pos + 4)
            active.lengths.append(len(r))
            pos += 4 + len(r)
        self._end = pos
        return first

    def read(self, start: int, end: int) -> list[bytes]:
        with self._lock:
            segments = [*self._sealed, self._active]
        oldest = segments[0].first
        if not oldest <= start <= end <= segments[-1].end:
            if start < oldest and end <= segments[-1].end:
                raise LogCorrupt(f"sequence records below {oldest} were compacted (they are in the "
                                 f"published tiles); asked for [{start},{end})")
            raise LogCorrupt(f"sequence has {segments[-1].end} records, asked for [{start},{end})")
        firsts = [s.first for s in segments]
        out = []
        for i in range(start, end):
            out.append(segments[bisect.bisect_right(firsts, i) - 1].read(i))
        return out

    def size(self) -> int:
        return self._active.end

    def first_kept(self) -> int:
        """Index of the oldest record still readable here."""
        with self._lock:
            return self._sealed[0].first if self._sealed else self._active.first

    def mark_integrated(self, size: int) -> None:
        """Delete sealed segments whose records are all below ``size`` (durably published)."""
        with self._lock:
            done = [s for s in self._sealed if s.end <= size]
            self._sealed = [s for s in self._sealed if s.end > size]
        for seg in done:
            seg.close()
            with contextlib.suppress(FileNotFoundError):
                seg.path.unlink()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        with self._lock:
            for seg in [*self._sealed, self._active]:
                seg.close()
