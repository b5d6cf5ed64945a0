"""JSON answers written straight to ASGI ``send``, for the layers that answer before (or
instead of) FastAPI: the body cap, the rate limiter and the pre-flight fast path.

The bytes are what FastAPI's ``JSONResponse`` writes (compact, UTF-8, no NaN), so a client
sees one format whichever layer answered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.types import Send


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


async def send_json(send: Send, status: int, data: bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Answer ``status`` with the JSON bytes ``data`` and further ``headers``."""
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                    *headers],
    })
    await send({"type": "http.response.body", "body": data})
