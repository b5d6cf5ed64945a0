"""The framing between the broker and its audit worker process (see :mod:`broker.audit.process`).

A frame is ``u32 length | kind (1 byte) | u64 id | body`` (big-endian; length counts what
follows it). Kinds:

* ``A`` append: ``u32 count``, then ``count`` times ``u32 length | record bytes``, then the
  records' search-index fields as JSON (the rest of the frame);
* ``K`` acknowledgement of append ``id``: ``u64`` index of its first record, durable;
* ``J`` an operation or its answer: JSON;
* ``E`` the failure of request ``id``: JSON ``{"message", "code", "status", "details"}``.

Records cross as the canonical bytes the broker encoded: the worker sequences exactly what the
broker validated, and nothing is parsed twice.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

from broker.audit.records import IndexFields
from broker.errors import AuditUnavailable, BadRequest, NotFound, TollgateError

_HEAD = struct.Struct(">IcQ")  # length, kind, id
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
MAX_FRAME = 1 << 30


def append_frame(request_id: int, records: Sequence[bytes], meta: Sequence[IndexFields | None]) -> bytes:
    parts = [b"", _U32.pack(len(records))]
    for r in records:
        parts += (_U32.pack(len(r)), r)
    parts.append(json.dumps([None if m is None else list(m) for m in meta]).encode())
    body = b"".join(parts)
    return _HEAD.pack(len(body) + 9, b"A", request_id) + body


def ack_frame(request_id: int, first: int) -> bytes:
    return _HEAD.pack(17, b"K", request_id) + _U64.pack(first)


def json_frame(kind: bytes, request_id: int, value: Any) -> bytes:
    body = json.dumps(value, separators=(",", ":")).encode()
    return _HEAD.pack(len(body) + 9, kind, request_id) + body


def error_frame(request_id: int, exc: BaseException) -> bytes:
    if isinstance(exc, TollgateError):
        value = {"message": exc.message, "code": exc.code, "status": exc.status, "details": exc.details}
    else:
        value = {"message": f"{type(exc).__name__}: {exc}", "code": "AUDIT_UNAVAILABLE", "status": 503,
                 "details": None}
    return json_frame(b"E", request_id, value)


def json_value(body: bytes) -> Any:
    return json.loads(body)


def parse_append(body: bytes) -> tuple[list[bytes], list[IndexFields | None]]:
    (count,) = _U32.unpack_from(body, 0)
    pos, records = 4, []
    for _ in range(count):
        (n,) = _U32.unpack_from(body, pos)
        records.append(body[pos + 4 : pos + 4 + n])
        pos += 4 + n
    meta = [None if m is None else IndexFields(*m) for m in json.loads(body[pos:])]
    if len(meta) != count:
        raise ValueError("append frame: metadata count does not match the records")
    return records, meta


def parse_ack(body: bytes) -> int:
    (first,) = _U64.unpack(body)
    return int(first)


def error_of(body: bytes) -> TollgateError:
    """The exception an ``E`` frame describes, as the class its status implies."""
    v = json.loads(body)
    cls: type[TollgateError] = {503: AuditUnavailable, 400: BadRequest, 404: NotFound}.get(v["status"], TollgateError)
    return cls(v["message"], code=v["code"], details=v["details"], status=v["status"])


class FrameBuffer:
    """Accumulates bytes from a stream and yields complete ``(kind, id, body)`` frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, int, bytes]]:
        self._buf += data
        buf, pos, out = self._buf, 0, []
        while len(buf) - pos >= 4:
            (n,) = _U32.unpack_from(buf, pos)
            if not 9 <= n <= MAX_FRAME:
                raise ValueError(f"audit worker frame of {n} bytes")
            if len(buf) - pos - 4 < n:
                break
            _, kind, request_id = _HEAD.unpack_from(buf, pos)
            out.append((kind, request_id, bytes(buf[pos + 13 : pos + 4 + n])))
            pos += 4 + n
        del buf[:pos]
        return out
