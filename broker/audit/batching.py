"""Grouping of asyncio appends by turn of the event loop.

Records appended during one turn of a loop are handed on together at the end of that turn.
Handing them over one by one let the sequencer start an fsync for the first record of a burst
while the loop was still producing the rest; those then waited a whole extra cycle (measured:
4x fewer pre-flights per second).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

Flush = Callable[[asyncio.AbstractEventLoop, list[bytes], list[Any], list["asyncio.Future[int]"]], None]


class TurnBatcher:
    """Collects ``(record, meta)`` per running loop; ``flush`` gets each turn's group once."""

    def __init__(self, flush: Flush) -> None:
        self._flush = flush
        self._groups: dict[asyncio.AbstractEventLoop,
                           tuple[list[bytes], list[Any], list[asyncio.Future[int]]]] = {}

    def add(self, data: bytes, meta: Any) -> asyncio.Future[int]:
        """Queue one record; the future gets its index (or the failure)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        group = self._groups.get(loop)
        if group is None:
            group = self._groups[loop] = ([], [], [])
            loop.call_soon(self._end_of_turn, loop)
        group[0].append(data)
        group[1].append(meta)
        group[2].append(fut)
        return fut

    def _end_of_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        records, meta, futures = self._groups.pop(loop)
        self._flush(loop, records, meta, futures)
