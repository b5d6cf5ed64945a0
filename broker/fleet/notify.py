"""How the app tells the bundle server that the active policy set changed.

``notify()`` may be called from any thread (activation may run in a worker thread or a replica
poller); waiters are woken through their own event loop. A generation counter closes the race
between "read the bundle" and "start waiting": a waiter passes the generation it saw, and returns
at once if a notification happened in between.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Protocol

from broker.engine.interface import PolicyBundle


class BundleSource(Protocol):
    """``app.state.bundle_source``: returns the active policy set (cheap; called per request)."""

    def __call__(self) -> PolicyBundle: ...


class ActivationNotifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()

    @property
    def generation(self) -> int:
        return self._generation

    def notify(self) -> None:
        """Call after every activation (thread-safe, never blocks)."""
        with self._lock:
            self._generation += 1
            waiters, self._waiters = self._waiters, set()
        for loop, fut in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_wake, fut)

    async def wait_changed(self, timeout: float, since: int | None = None) -> bool:
        """Wait up to ``timeout`` seconds for a notification after generation ``since``
        (default: now). True if there was one."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (loop, fut)
        with self._lock:
            if since is not None and self._generation != since:
                return True
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(fut, timeout=max(timeout, 0.0))
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(entry)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
