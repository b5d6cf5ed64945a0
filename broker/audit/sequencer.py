"""Group-commit sequencer: one writer thread, many waiting callers, one sync per batch.

Callers enqueue canonical record bytes and wait for the leaf index, which is only given out
after the batch holding the record is durable. Thread callers get a :class:`SyncWaiter`;
asyncio callers get an :class:`asyncio.Future`, and all asyncio waiters of a batch are woken
with one loop call instead of one per record.

Any storage error is sticky: the sequencer fails every waiter and refuses new work (fail
closed), because after a failed fsync the kernel may have dropped the dirty pages and a retry
could report success for data that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar, cast

from broker.audit.storage.base import SequenceStore
from broker.errors import AuditUnavailable

OnDurable = Callable[[int, list[bytes], list[Any]], None]
_Item = tuple[list[bytes], list[Any], Any]  # records, per-record metadata, waiter
T = TypeVar("T")


def unavailable(reason: str) -> AuditUnavailable:
    """The error every refused or failed append carries."""
    return AuditUnavailable(f"audit log unavailable: {reason}", details={"reason": reason})


def settle(results: Iterable[tuple[asyncio.Future[int], int | BaseException]]) -> None:
    """Give each future its index or its failure (on the future's loop)."""
    for fut, value in results:
        if fut.done():
            continue  # the caller was cancelled; the record is durable regardless
        if isinstance(value, BaseException):
            fut.set_exception(value)
        else:
            fut.set_result(value)


class SyncWaiter(Generic[T]):
    """One-shot result slot for a blocked thread: a pre-acquired lock the writer releases.

    Lighter than a ``concurrent.futures.Future`` (no condition variable, no callbacks),
    which matters when hundreds of threads are woken per batch.
    """

    __slots__ = ("_lock", "_value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._value: T | BaseException | None = None

    def set(self, value: T | BaseException) -> None:
        self._value = value
        self._lock.release()

    def result(self) -> T:
        self._lock.acquire()
        if isinstance(self._value, BaseException):
            raise self._value
        return cast(T, self._value)


class GroupCommitSequencer:
    """Durably sequences records through a :class:`SequenceStore` in batches."""

    def __init__(self, store: SequenceStore, on_durable: OnDurable, max_batch: int = 8192,
                 max_batch_bytes: int = 16 << 20) -> None:
        self._store = store
        self._on_durable = on_durable
        self._max_batch = max_batch
        self._max_bytes = max_batch_bytes
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()  # None = stop
        self._thread: threading.Thread | None = None
        self._failure: str | None = None
        self._lock = threading.Lock()
        self.batches = 0

    @property
    def failure(self) -> str | None:
        return self._failure

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)
        self._thread.start()

    def _put(self, records: Sequence[bytes], meta: Sequence[Any] | None, waiter: Any) -> None:
        # Under the lock, so no item can slip in after the writer drained the queue on stop.
        with self._lock:
            if self._failure is not None:
                raise unavailable(self._failure)
            if self._thread is None:
                raise AuditUnavailable("audit log is not running")
            self._queue.put((list(records), list(meta or [None] * len(records)), waiter))

    def submit(self, records: Sequence[bytes], meta: Sequence[Any] | None = None,
               ) -> SyncWaiter[int]:
        """Queue records to be written contiguously; ``.result()`` blocks for the first index.

        ``meta`` (one item per record) is handed to ``on_durable`` untouched.
        """
        waiter: SyncWaiter[int] = SyncWaiter()
        self._put(records, meta, waiter)
        return waiter

    def submit_future(self, records: Sequence[bytes], meta: Sequence[Any] | None = None,
                      ) -> Future[int]:
        """Like :meth:`submit`, returning a ``concurrent.futures.Future``."""
        fut: Future[int] = Future()
        self._put(records, meta, fut)
        return fut

    def submit_async(self, records: Sequence[bytes], meta: Sequence[Any] | None = None,
                     ) -> asyncio.Future[int]:
        """Like :meth:`submit`, for the running event loop."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        self._put(records, meta, (loop, fut))
        return fut

    def submit_async_group(self, loop: asyncio.AbstractEventLoop, records: Sequence[bytes],
                           meta: Sequence[Any], futures: Sequence[asyncio.Future[int]]) -> None:
        """Queue records of many asyncio callers as one contiguous item; ``futures[i]`` gets
        record i's index (or the failure), settled on ``loop``."""
        try:
            self._put(records, meta, (loop, list(futures)))
        except BaseException as exc:
            settle([(f, exc) for f in futures])
            raise

    def clear_failure(self) -> None:
        """Accept appends again (the owner re-checked the store; see ``AuditLog.try_recover``)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._failure = None

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Item] = []
            item = self._queue.get()
            count = size = 0
            while True:
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                count += len(item[0])
                size += sum(len(r) for r in item[0])
                if count >= self._max_batch or size >= self._max_bytes:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)
        self._drain_after_stop()

    def _commit(self, batch: list[_Item]) -> None:
        if self._failure is not None:
            self._resolve(batch, None, unavailable(self._failure))
            return
        flat = [r for records, _, _ in batch for r in records]
        try:
            first = self._store.append(flat)
        except Exception as exc:
            with self._lock:
                self._failure = f"{type(exc).__name__}: {exc}"
            self._resolve(batch, None, unavailable(self._failure))
            return
        self.batches += 1
        # Hand the durable records to the integrator before waking callers, so anything a
        # caller was told is in the log is also on its way into the tree.
        self._on_durable(first, flat, [m for _, meta, _ in batch for m in meta])
        self._resolve(batch, first, None)

    def _resolve(self, batch: list[_Item], first: int | None, error: BaseException | None,
                 ) -> None:
        per_loop: dict[asyncio.AbstractEventLoop,
                       list[tuple[asyncio.Future[int], int | BaseException]]] = {}
        index = first or 0
        for records, _, waiter in batch:
            value: int | BaseException = error if error is not None else index
            index += len(records)
            if isinstance(waiter, SyncWaiter):
                waiter.set(value)
            elif isinstance(waiter, Future):
                if isinstance(value, BaseException):
                    waiter.set_exception(value)
                else:
                    waiter.set_result(value)
            else:
                loop, fut = waiter
                settled = per_loop.setdefault(loop, [])
                if isinstance(fut, list):  # a group: one future per record
                    base = index - len(records)
                    settled.extend((f, value if error is not None else base + i) for i, f in enumerate(fut))
                else:
                    settled.append((fut, value))
        for loop, results in per_loop.items():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(settle, results)

    def _drain_after_stop(self) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = "audit log closed"
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._resolve([item], None, unavailable("audit log closed"))
