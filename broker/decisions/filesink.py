"""A durable append-only JSON-lines decision log with group commit.

Stand-in for the signed audit log: one canonical JSON record per line, acknowledged only after
``fsync``. Appenders hand their bytes to a single writer thread, which writes everything queued
since its last flush with one ``write`` + one ``fsync`` (group commit), so 32 concurrent
pre-flights cost one disk flush rather than 32. After any I/O error the sink refuses every later
append: after a failed fsync the file's state is unknown, and a decision must never be returned
without its record.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from broker.canonical import CheckedRecord
from broker.errors import AuditUnavailable

# The signed log caps entries at 65,535 bytes and stores larger payloads beside the log; this
# stand-in has no such format limit, only a sanity bound against runaway records.
MAX_RECORD_BYTES = 16 * 2**20


def _encode(record: Mapping[str, Any]) -> bytes:
    if isinstance(record, CheckedRecord):  # carries its canonical bytes (and has no dict)
        data = record.canonical
    else:
        try:
            data = json.dumps(
                record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            ).encode()
        except (TypeError, ValueError) as exc:
            raise AuditUnavailable(f"decision record is not JSON: {exc}") from exc
    if len(data) > MAX_RECORD_BYTES:
        raise AuditUnavailable(f"decision record is {len(data)} bytes (limit {MAX_RECORD_BYTES})")
    return data + b"\n"


def _recover(path: Path) -> int:
    """Count complete lines; cut a torn last line (a crash mid-write was never acknowledged)."""
    if not path.exists():
        return 0
    with path.open("r+b") as fh:
        data = fh.read()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
        return data.count(b"\n", 0, end)


class JsonlFileSink:
    """``DecisionSink`` over one file. Indices are 0-based line numbers."""

    def __init__(self, path: Path, *, max_batch: int = 4096) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        self._next = _recover(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if created:  # make the new file's directory entry durable too
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._max_batch = max_batch
        self._queue: list[tuple[bytes, Future[int]]] = []
        self._cond = threading.Condition()
        self._failed: str | None = None
        self._closed = False
        self._writer = threading.Thread(target=self._run, name="decision-filesink", daemon=True)
        self._writer.start()

    def _submit(self, record: Mapping[str, Any]) -> Future[int]:
        data = _encode(record)
        future: Future[int] = Future()
        with self._cond:
            if self._failed is not None:
                raise AuditUnavailable(f"decision log is unusable: {self._failed}")
            if self._closed:
                raise AuditUnavailable("decision log is closed")
            self._queue.append((data, future))
            self._cond.notify()
        return future

    def append(self, record: Mapping[str, Any]) -> int:
        return self._submit(record).result()

    async def append_async(self, record: Mapping[str, Any]) -> int:
        return await asyncio.wrap_future(self._submit(record))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            self._flush(batch)

    def _flush(self, batch: list[tuple[bytes, Future[int]]]) -> None:
        try:
            if self._failed is not None:
                raise OSError(self._failed)
            payload = b"".join(data for data, _ in batch)
            view = memoryview(payload)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            with self._cond:
                self._failed = self._failed or f"{type(exc).__name__}: {exc}"
            error = AuditUnavailable(f"decision log write failed: {self._failed}")
            for _, future in batch:
                future.set_exception(error)
            return
        first = self._next
        self._next += len(batch)
        for offset, (_, future) in enumerate(batch):
            future.set_result(first + offset)

    def close(self) -> None:
        """Flush what is queued, then stop the writer and close the file."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._writer.join()
        os.close(self._fd)

    def healthy(self) -> tuple[bool, str]:
        """A readiness check: (ok, detail)."""
        if self._failed is not None:
            return False, self._failed
        return (not self._closed), str(self.path)
