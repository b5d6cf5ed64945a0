"""Local-filesystem drivers: published objects as files, the sequence as one framed file.

Durability rules: every object is written to a temp file, fsynced, then renamed into place;
:meth:`FsLogStorage.sync` fsyncs the directories whose entries changed, so a published
checkpoint never points at files a crash could lose.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import uuid
import zlib
from array import array
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from broker.audit.errors import LogCorrupt
from broker.audit.storage.base import LogStorage, SequenceStore, check_object_path
from broker.errors import NotFound

_TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomic(path: Path, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """temp + fsync + rename in the same directory; the caller fsyncs the directory."""
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}-{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


class FsLogStorage(LogStorage):
    """Objects as files under ``root``; safe for one writer and many readers.

    ``durable=False`` skips every fsync: for scratch copies such as exports, never the log.
    """

    def __init__(self, root: Path, durable: bool = True, io_threads: int = 8) -> None:
        self.root = Path(root)
        self.durable = durable
        # fsyncs of different files overlap well on SSDs and virtual disks (measured ~15x
        # more fsyncs/s with 16 threads than with one), so batches are written in parallel.
        self._pool = ThreadPoolExecutor(io_threads, thread_name_prefix="audit-io")
        self.root.mkdir(parents=True, exist_ok=True)
        self._dirty: set[Path] = set()
        self._lock = threading.Lock()

    def _path(self, path: str) -> Path:
        return self.root / check_object_path(path)

    def get(self, path: str) -> bytes:
        try:
            return self._path(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFound(f"audit object {path} not found") from exc

    def exists(self, path: str) -> bool:
        return self._path(path).is_file()

    def put(self, path: str, data: bytes) -> None:
        target = self._path(path)
        parent = target.parent
        if not parent.is_dir():
            # New directories must be made durable in their parents too.
            missing = [p for p in [parent, *parent.parents] if not p.exists()]
            parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._dirty.update(p.parent for p in missing)
        write_file_atomic(target, data, durable=self.durable)
        with self._lock:
            self._dirty.add(parent)

    def put_many(self, objects: Mapping[str, bytes]) -> None:
        if len(objects) < 2:
            super().put_many(objects)
            return
        # list() re-raises the first failure after every write has finished or failed.
        list(self._pool.map(lambda item: self.put(*item), objects.items()))

    def delete(self, path: str) -> None:
        target = self._path(path)
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
            with self._lock:
                self._dirty.add(target.parent)

    def list(self, prefix: str = "") -> Iterator[str]:
        # Walk only below the prefix's directory: listing one tile must not scan the log.
        start = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if "/" in prefix:
            check_object_path(prefix.rsplit("/", 1)[0])
        for dirpath, _dirs, files in os.walk(start):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                if name.startswith(_TMP_PREFIX):
                    continue
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if rel.startswith(prefix):
                    yield rel

    def sync(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        if not self.durable:
            return
        for d in sorted(dirty, key=lambda p: len(p.parts), reverse=True):
            fsync_dir(d)


# Sequence file: 8-byte magic, then batches. One batch per group commit, so only the last
# batch can be torn by a crash. Batch = header(magic "TB", u32 count, u32 payload length,
# u32 crc32 of count+length+payload) + payload(records as u32 length + bytes).
_FILE_MAGIC = b"TGSEQ001"
_BATCH = struct.Struct(">2sIII")
_BATCH_MAGIC = b"TB"
_REC = struct.Struct(">I")


class FsSequenceStore(SequenceStore):
    """Append-only framed sequence file with group-commit appends and torn-tail recovery."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd = -1
        self._rfd = -1
        self._offsets = array("Q")
        self._lengths = array("I")
        self._end = 0
        self.recovered_bytes = 0  # bytes of torn tail dropped by the last open()

    def open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if created or os.fstat(self._fd).st_size == 0:
            os.write(self._fd, _FILE_MAGIC)
            os.fsync(self._fd)
            fsync_dir(self.path.parent)
        self._rfd = os.open(self.path, os.O_RDONLY)
        self._scan()
        os.lseek(self._fd, self._end, os.SEEK_SET)
        return len(self._offsets)

    def _scan(self) -> None:
        with open(self.path, "rb") as f:
            data = f.read()
        if data[:8] != _FILE_MAGIC:
            raise LogCorrupt(f"{self.path} is not an audit sequence file")
        pos, total = 8, len(data)
        offsets, lengths = array("Q"), array("I")
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
                    raise LogCorrupt(f"{self.path}: corrupt batch at byte {pos}")
                break
            rpos = body
            for _ in range(count):
                (n,) = _REC.unpack_from(data, rpos)
                offsets.append(rpos + 4)
                lengths.append(n)
                rpos += 4 + n
            if rpos != body + plen:
                raise LogCorrupt(f"{self.path}: batch at byte {pos} has inconsistent lengths")
            pos = rpos
        self._offsets, self._lengths = offsets, lengths
        self.recovered_bytes = total - pos
        if pos < total:
            os.ftruncate(self._fd, pos)
            os.fsync(self._fd)
        self._end = pos

    def append(self, records: Sequence[bytes]) -> int:
        if self._fd < 0:
            raise LogCorrupt("sequence store is not open")
        first = len(self._offsets)
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
            os.fdatasync(self._fd)
        except OSError:
            # Leave the file as it was so a later recovery sees at most a torn tail.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            raise
        pos = start + _BATCH.size
        for r in records:
            self._offsets.append(pos + 4)
            self._lengths.append(len(r))
            pos += 4 + len(r)
        self._end = pos
        return first

    def read(self, start: int, end: int) -> list[bytes]:
        if not 0 <= start <= end <= len(self._offsets):
            raise LogCorrupt(f"sequence has {len(self._offsets)} records, asked for [{start},{end})")
        out = []
        for i in range(start, end):
            n = self._lengths[i]
            data = os.pread(self._rfd, n, self._offsets[i])
            if len(data) != n:
                raise LogCorrupt(f"sequence record {i} is truncated")
            out.append(data)
        return out

    def size(self) -> int:
        return len(self._offsets)

    def close(self) -> None:
        for fd in (self._fd, self._rfd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._rfd = -1
