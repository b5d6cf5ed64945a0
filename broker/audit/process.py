"""The audit log in a worker process: the broker's default when the log is on local files.

Why a process: sequencing (write, sync) and integration (hashing, tiles, checkpoints) are
CPU-bound Python next to a CPU-bound request loop, and under one GIL each wake-up of the
audit threads waited for the loop and the loop for them: with the log in-process, pre-flight
throughput with audit on was about half of audit off (benchmarks/preflight.py). In the worker
they run on the other core and hold no lock the broker needs.

The broker keeps what needs no writer: records are validated and encoded here (payload blobs
stored here, before the record), and reads (checkpoint, tiles, proofs, search) go straight to
the published files and the search index, as :class:`LogReader` does for offline tools. Appends
cross a socket pair (:mod:`broker.audit.wire`); an answer comes only after the worker's
sequencer made the record durable, so an acknowledged decision survives a kill of either
process. Event-loop appends use a socket the loop itself watches: no thread hand-off on the
hot path. Everything else (thread callers, health, key rotation) uses a control socket.

If the worker dies, every waiting append fails (503, never an answer without its record), the
log reports "unavailable", and a supervisor starts a new worker, which recovers from the
sequence file like a restarted broker would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import broker
from broker.audit import wire
from broker.audit.batching import TurnBatcher
from broker.audit.index import SearchIndex
from broker.audit.log import store_blob
from broker.audit.reader import INDEX_FILE, PUBLIC_DIR, LogReader
from broker.audit.records import IndexFields, encode_with_index
from broker.audit.sequencer import SyncWaiter, settle, unavailable
from broker.audit.storage.fs import FsLogStorage
from broker.audit.witness import WitnessClient
from broker.errors import AuditUnavailable, BadRequest, TollgateError

log = logging.getLogger(__name__)
_RESTART_DELAYS = (0.2, 1.0, 5.0)  # then every 5 s until it works or the log is closed


def _raw(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption()).hex()


class _LoopChannel:
    """The data socket, watched by one event loop; answers settle that loop's futures."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop = loop
        self.sock = sock
        sock.setblocking(False)
        self._frames = wire.FrameBuffer()
        self._out = bytearray()
        self._pending: dict[int, list[asyncio.Future[int]]] = {}
        self.failure: str | None = None
        loop.add_reader(sock.fileno(), self._readable)

    def send(self, request_id: int, frame: bytes, futures: list[asyncio.Future[int]]) -> None:
        if self.failure is not None:
            _fail(futures, unavailable(self.failure))
            return
        self._pending[request_id] = futures
        if self._out:
            self._out += frame
            return
        try:
            sent = self.sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.fail(f"audit worker socket: {exc}")
            return
        if sent < len(frame):
            self._out += frame[sent:]
            self.loop.add_writer(self.sock.fileno(), self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self._out)
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail(f"audit worker socket: {exc}")
            return
        del self._out[:sent]
        if not self._out:
            self.loop.remove_writer(self.sock.fileno())

    def _readable(self) -> None:
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail(f"audit worker socket: {exc}")
            return
        if not data:
            self.fail("the audit worker process exited")
            return
        try:
            frames = self._frames.feed(data)
        except ValueError as exc:
            self.fail(str(exc))
            return
        for kind, request_id, body in frames:
            futures = self._pending.pop(request_id, [])
            if kind == b"K":
                first = wire.parse_ack(body)
                settle((f, first + i) for i, f in enumerate(futures))
            else:
                _fail(futures, wire.error_of(body) if kind == b"E" else
                      AuditUnavailable(f"unexpected audit worker frame {kind!r}"))

    def fail(self, reason: str) -> None:
        """Stop watching the socket and fail every append still waiting (loop thread only)."""
        if self.failure is None:
            self.failure = reason
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.sock.fileno())
                self.loop.remove_writer(self.sock.fileno())
            self.sock.close()
        pending, self._pending = self._pending, {}
        for futures in pending.values():
            _fail(futures, unavailable(reason))


def _fail(futures: list[asyncio.Future[int]], exc: BaseException) -> None:
    settle((f, exc) for f in futures)


class AuditProcess(LogReader):
    """:class:`~broker.audit.log.AuditLog`'s interface, with the writer in a worker process."""

    def __init__(self, directory: Path, signer: Ed25519PrivateKey, origin: str,
                 key_name: str | None = None, *, checkpoint_interval_s: float = 1.0,
                 checkpoint_every: int = 10_000, idle_resign_s: float = 60.0,
                 witnesses: Sequence[WitnessClient] = (), start_timeout_s: float = 600.0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        super().__init__(FsLogStorage(self.directory / PUBLIC_DIR), SearchIndex(self.directory / INDEX_FILE))
        self.origin = origin
        self._config: dict[str, Any] = {
            "op": "start", "directory": str(self.directory), "origin": origin, "key_name": key_name,
            "key": _raw(signer), "checkpoint_interval_s": checkpoint_interval_s,
            "checkpoint_every": checkpoint_every, "idle_resign_s": idle_resign_s,
            # the worker cosigns through its own clients, built from the same URL and key
            "witnesses": [list(w.config) for w in witnesses]}
        for w in witnesses:
            w.close()
        self._start_timeout = start_timeout_s
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # guards the fields below
        self._send_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._data: socket.socket | None = None  # not yet bound to a loop
        self._channel: _LoopChannel | None = None
        self._waiters: dict[int, SyncWaiter[Any]] = {}
        self._failure: str | None = "not started"
        self._closing = False
        self._reader: threading.Thread | None = None
        self._batcher = TurnBatcher(self._flush_group)
        self._store_blob = partial(store_blob, self.storage)
        self.restarts = 0

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker; returns once it recovered the log and published a checkpoint."""
        with self._lock:
            if self._proc is not None:
                raise BadRequest("audit log already started")
            self._closing = False
        self._spawn()

    def _spawn(self) -> None:
        control, child_control = socket.socketpair()
        data, child_data = socket.socketpair()
        root = str(Path(broker.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        fds = (child_control.fileno(), child_data.fileno())
        # Its own process group: a Ctrl-C in the broker's terminal is the broker's to handle. The
        # broker drains its requests, then closes the control socket, and the worker stops.
        proc = subprocess.Popen([sys.executable, "-m", "broker.audit.worker", *map(str, fds)],
                                pass_fds=fds, env=env, stdin=subprocess.DEVNULL, process_group=0)
        child_control.close()
        child_data.close()
        try:
            control.sendall(wire.json_frame(b"J", 0, self._config))
            self._await_start(proc, control)
        except BaseException:
            control.close()
            data.close()
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait(10)
            raise
        with self._lock:
            self._proc, self._control, self._data, self._failure = proc, control, data, None
        self._reader = threading.Thread(target=self._read_control, args=(proc, control),
                                        name="audit-worker-control", daemon=True)
        self._reader.start()

    def _await_start(self, proc: subprocess.Popen[bytes], control: socket.socket) -> None:
        deadline = time.monotonic() + self._start_timeout
        frames = wire.FrameBuffer()
        control.settimeout(0.2)
        try:
            while True:
                try:
                    data = control.recv(1 << 16)
                except TimeoutError:
                    if proc.poll() is not None:
                        raise AuditUnavailable(f"audit worker exited during start (code {proc.returncode})") from None
                    if time.monotonic() > deadline:
                        raise AuditUnavailable("audit worker did not start in time") from None
                    continue
                if not data:
                    proc.wait(10)
                    raise AuditUnavailable(f"audit worker exited during start (code {proc.returncode})")
                for kind, _, body in frames.feed(data):
                    if kind == b"E":
                        raise wire.error_of(body)
                    return
        finally:
            control.settimeout(None)

    def close(self) -> None:
        """Close the worker (it integrates and publishes what is durable) and wait for it."""
        with self._lock:
            self._closing = True
            proc, control, data, channel = self._proc, self._control, self._data, self._channel
            self._proc = self._control = self._data = self._channel = None
            self._failure = "audit log closed"
        if control is not None:
            with contextlib.suppress(OSError):
                control.shutdown(socket.SHUT_WR)  # end of file: the worker closes the log
        if proc is not None:
            try:
                if (code := proc.wait(120)) != 0:
                    log.error("audit worker exited with code %s while closing the log", code)
            except subprocess.TimeoutExpired:
                log.error("audit worker did not stop; killing it")
                proc.kill()
                proc.wait()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(10)
        if channel is not None:
            _on_loop(channel.loop, channel.fail, "audit log closed")
        for sock in (control, data):
            if sock is not None:
                sock.close()
        if self.index is not None:
            self.index.close()

    # -- the control socket and its supervisor ------------------------------------------------

    def _read_control(self, proc: subprocess.Popen[bytes], control: socket.socket) -> None:
        frames = wire.FrameBuffer()
        while True:
            try:
                data = control.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            for kind, request_id, body in frames.feed(data):
                with self._lock:
                    waiter = self._waiters.pop(request_id, None)
                if waiter is not None:
                    waiter.set(wire.error_of(body) if kind == b"E" else
                               wire.parse_ack(body) if kind == b"K" else wire.json_value(body))
        code = proc.wait()
        self._lost(f"the audit worker process exited (code {code})")

    def _lost(self, reason: str) -> None:
        with self._lock:
            closing = self._closing
            if not closing:
                self._failure = reason
            waiters, self._waiters = self._waiters, {}
            channel, self._channel = self._channel, None
            stale = [s for s in (self._control, self._data) if s is not None]
            self._proc = self._control = self._data = None
        for waiter in waiters.values():
            waiter.set(unavailable(reason))
        if channel is not None:
            _on_loop(channel.loop, channel.fail, reason)
        if closing:
            return
        for sock in stale:
            sock.close()
        log.error("audit worker lost: %s; restarting it", reason)
        for attempt in itertools.count():
            time.sleep(_RESTART_DELAYS[min(attempt, len(_RESTART_DELAYS) - 1)])
            with self._lock:
                if self._closing:
                    return
            try:
                self._spawn()
            except TollgateError as exc:
                log.error("audit worker restart failed: %s", exc.message)
                continue
            self.restarts += 1
            log.warning("audit worker restarted; the log accepts appends again")
            return

    def _request(self, frame: Callable[[int], bytes]) -> Any:
        reply: SyncWaiter[Any] = SyncWaiter()
        with self._lock:
            control, failure = self._control, self._failure
            if control is None or failure is not None:
                raise unavailable(failure or "no worker")
            request_id = next(self._ids)
            self._waiters[request_id] = reply
        try:
            with self._send_lock:
                control.sendall(frame(request_id))
        except OSError as exc:
            with self._lock:
                self._waiters.pop(request_id, None)
            raise AuditUnavailable(f"audit log unavailable: {exc}") from exc
        return reply.result()

    def _operate(self, op: str, **args: Any) -> Any:
        return self._request(lambda i: wire.json_frame(b"J", i, {"op": op, **args}))

    # -- appends ------------------------------------------------------------------------------

    def _encode(self, record: Mapping[str, Any]) -> tuple[bytes, IndexFields]:
        failure = self._failure
        if failure is not None:
            raise unavailable(failure)
        return encode_with_index(record, self._store_blob)

    def append(self, record: Mapping[str, Any]) -> int:
        """Durably append one record; return its leaf index. Raises AuditUnavailable."""
        return self.append_many([record])[0]

    def append_many(self, records: Sequence[Mapping[str, Any]]) -> list[int]:
        """Durably append records contiguously; return their leaf indexes."""
        encoded = [self._encode(r) for r in records]
        first = int(self._request(lambda i: wire.append_frame(i, [d for d, _ in encoded],
                                                              [m for _, m in encoded])))
        return list(range(first, first + len(records)))

    async def append_async(self, record: Mapping[str, Any]) -> int:
        """:meth:`append` for event loops, grouped per turn of the loop, without threads."""
        data, meta = self._encode(record)
        return await self._batcher.add(data, meta)

    def _flush_group(self, loop: asyncio.AbstractEventLoop, records: list[bytes], meta: list[Any],
                     futures: list[asyncio.Future[int]]) -> None:
        with self._lock:
            channel, failure = self._channel, self._failure
            if channel is None and failure is None and self._data is not None:
                channel = self._channel = _LoopChannel(loop, self._data)
                self._data = None
        if channel is not None and channel.loop is loop:
            request_id = next(self._ids)
            channel.send(request_id, wire.append_frame(request_id, records, meta), futures)
            return
        if failure is not None:
            _fail(futures, unavailable(failure))
            return
        # Another loop owns the data socket (rare: tools, tests): go through the control socket.
        task = loop.create_task(asyncio.to_thread(
            self._request, lambda i: wire.append_frame(i, records, meta)))
        task.add_done_callback(partial(_settle_from_task, futures))

    # -- status and keys ----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """As :meth:`AuditLog.health`; "unavailable" while there is no working worker."""
        try:
            value: dict[str, Any] = self._operate("health")
        except TollgateError as exc:
            return {"status": "unavailable", "reason": exc.message}
        value["worker_restarts"] = self.restarts
        return value

    @property
    def vkeys(self) -> list[str]:
        return list(self._operate("vkeys"))

    def wait_published(self, index: int, timeout: float = 10.0) -> None:
        self._operate("wait_published", index=index, timeout=timeout)

    def rotate_key(self, new_key: Ed25519PrivateKey, *, key_name: str | None = None,
                   overlap_s: float = 86400.0, actor: str = "system") -> str:
        return str(self._operate("rotate_key", key=_raw(new_key), key_name=key_name,
                                 overlap_s=overlap_s, actor=actor))

    def try_recover(self) -> bool:
        try:
            return bool(self._operate("try_recover"))
        except TollgateError:
            return False


def _settle_from_task(futures: list[asyncio.Future[int]], task: asyncio.Future[Any]) -> None:
    exc = task.exception()
    if exc is not None:
        _fail(futures, exc)
        return
    first = int(task.result())
    settle((f, first + i) for i, f in enumerate(futures))


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[str], None], arg: str) -> None:
    """Run ``fn(arg)`` on ``loop``'s thread (now, if that is this thread)."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fn(arg)
        return
    with contextlib.suppress(RuntimeError):  # a closed loop has nothing waiting any more
        loop.call_soon_threadsafe(fn, arg)
