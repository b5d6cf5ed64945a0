"""The audit worker process: runs an :class:`~broker.audit.log.AuditLog` for the broker.

    python -m broker.audit.worker CONTROL_FD DATA_FD

Started by :class:`~broker.audit.process.AuditProcess`, never by hand. Both file descriptors
are the worker's ends of socket pairs speaking :mod:`broker.audit.wire`. The first frame on the
control socket is ``J {"op": "start", ...}``; the worker recovers the log, publishes a
checkpoint and answers (or answers ``E`` and exits). After that each socket is served by its
own thread: appends are sequenced as they arrive and acknowledged once durable, operations are
answered in order. End of file on the control socket (the broker closed it, or died) closes
the log -- integrating and publishing whatever is durable -- and ends the process. It ignores
SIGINT and SIGTERM: only the broker, which drains its requests first, decides when it stops.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit import wire
from broker.audit.log import AuditLog
from broker.audit.witness import WitnessClient
from broker.errors import BadRequest
from broker.logging import configure_stdlib_logging

log = logging.getLogger("broker.audit.worker")


class _Connection:
    """One socket: frames in, answers out (sends are serialised: several threads answer)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._send_lock = threading.Lock()

    def send(self, frame: bytes) -> None:
        try:
            with self._send_lock:
                self.sock.sendall(frame)
        except OSError:
            pass  # the broker is gone; its end of file stops this worker

    def frames(self) -> Iterator[tuple[bytes, int, bytes]]:
        buf = wire.FrameBuffer()
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                return
            if not data:
                return
            yield from buf.feed(data)


def _open_log(config: dict[str, Any]) -> AuditLog:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(config["key"]))
    audit = AuditLog(config["directory"], key, config["origin"], config.get("key_name"),
                     checkpoint_interval_s=config["checkpoint_interval_s"],
                     checkpoint_every=config["checkpoint_every"],
                     idle_resign_s=config["idle_resign_s"],
                     witnesses=[WitnessClient.configured(url, vkey) for url, vkey in config.get("witnesses", [])])
    audit.start()
    return audit


class Worker:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    def serve(self, conn: _Connection, frames: Iterator[tuple[bytes, int, bytes]] | None = None) -> None:
        """Answer frames from ``conn`` (continuing ``frames`` if given) until it closes."""
        for kind, request_id, body in frames or conn.frames():
            if kind == b"A":
                self._append(conn, request_id, body)
            elif kind == b"J":
                try:
                    conn.send(wire.json_frame(b"J", request_id, self._operate(_operation(body))))
                except Exception as exc:
                    conn.send(wire.error_frame(request_id, exc))
            else:
                conn.send(wire.error_frame(request_id, BadRequest(f"unknown frame kind {kind!r}")))

    def _append(self, conn: _Connection, request_id: int, body: bytes) -> None:
        try:
            records, meta = wire.parse_append(body)
            fut = self.audit.submit_encoded(records, meta)
        except Exception as exc:
            conn.send(wire.error_frame(request_id, exc))
            return

        def done(f: Future[int]) -> None:
            exc = f.exception()
            conn.send(wire.error_frame(request_id, exc) if exc else wire.ack_frame(request_id, f.result()))

        fut.add_done_callback(done)

    def _operate(self, op: dict[str, Any]) -> Any:
        name = op.get("op")
        if name == "health":
            return self.audit.health()
        if name == "vkeys":
            return self.audit.vkeys
        if name == "wait_published":
            self.audit.wait_published(int(op["index"]), float(op["timeout"]))
            return True
        if name == "rotate_key":
            key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(op["key"]))
            return self.audit.rotate_key(key, key_name=op.get("key_name"), overlap_s=float(op["overlap_s"]),
                                         actor=str(op["actor"]))
        if name == "try_recover":
            return self.audit.try_recover()
        raise BadRequest(f"unknown audit worker operation {name!r}")


def _operation(body: bytes) -> dict[str, Any]:
    value = wire.json_value(body)
    if not isinstance(value, dict):
        raise BadRequest("audit worker operation must be a JSON object")
    return value


def main(argv: list[str]) -> int:
    # The broker owns this process's life: a stop signal sent to the whole group (systemd's
    # KillMode=control-group, a Ctrl-C) must not end the log while the broker still drains
    # requests that need it. End of file on the control socket -- the broker closing it, or
    # dying -- is what stops the worker; SIGKILL still does, and loses no acknowledged record.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_stdlib_logging(logging.WARNING, process="audit-worker")
    control = _Connection(socket.socket(fileno=int(argv[0])))
    data = _Connection(socket.socket(fileno=int(argv[1])))
    frames = control.frames()
    start = next(frames, None)
    if start is None:
        return 1
    _, request_id, body = start
    try:
        audit = _open_log(_operation(body))
    except Exception as exc:
        log.error("audit log did not start: %s", exc)
        control.send(wire.error_frame(request_id, exc))
        return 1
    control.send(wire.json_frame(b"J", request_id, {"vkeys": audit.vkeys}))
    worker = Worker(audit)
    threading.Thread(target=worker.serve, args=(data,), name="audit-data", daemon=True).start()
    try:
        worker.serve(control, frames)
    finally:
        audit.close()  # integrate and publish what is durable
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
