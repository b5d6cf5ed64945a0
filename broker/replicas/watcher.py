"""Propagation: applies changes another replica committed to the shared database, here.

A registry write or a policy activation commits in one replica's database transaction; the
others learn of it by polling two cheap queries (registry head number, latest activation
sequence number) every ``interval_s``. Polling rather than LISTEN/NOTIFY because a missed
notification (a reconnect, a replica starting up) would leave a replica stale silently,
whereas a poll always converges to the stored state; 0.2 s keeps propagation well under 1 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ActivationRef:
    seq: int
    version_id: str


@dataclass
class PolicySource:
    """What the watcher needs from the lifecycle, as plain callables (no import of it)."""

    current: Callable[[], ActivationRef | None]
    """The latest stored activation."""
    live: Callable[[], str]
    """The version id this replica serves now."""
    reactivate: Callable[[], object]
    """Make the stored active version live on this replica (``restore_active``)."""
    lock: threading.Lock | None = None
    """Held while checking and re-activating: the lifecycle's own activation lock, so a local
    activation in progress (live already, not yet committed) is never undone."""


class ChangeWatcher:
    def __init__(self, refresh_registry: Callable[[], bool], policy: PolicySource, *,
                 interval_s: float = 0.2) -> None:
        self.refresh_registry = refresh_registry
        self.policy = policy
        self.interval_s = interval_s
        self._seen: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.registry_changes = 0
        self.activations = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="replica-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def poll(self) -> None:
        """One round; errors are logged and retried next round (the database may be away)."""
        for step in (self._registry, self._activation):
            try:
                step()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("replicas.poll_failed", step=step.__name__, error=self.last_error)

    def _registry(self) -> None:
        # refresh() reloads the head only if its number moved, and tells the commit listeners
        # (the snapshot manager rebuilds the decision snapshot from it).
        if self.refresh_registry():
            self.registry_changes += 1

    def _activation(self) -> None:
        current = self.policy.current()
        if current is None or current.seq == self._seen:
            return
        lock = self.policy.lock
        # Never block the poller behind a long local activation: look again next round.
        if lock is not None and not lock.acquire(blocking=False):
            return
        try:
            current = self.policy.current()  # re-read under the lock
            if current is not None and current.version_id != self.policy.live():
                started = time.monotonic()
                self.policy.reactivate()
                self.activations += 1
                log.info("replicas.policy_followed", version_id=current.version_id,
                         seconds=round(time.monotonic() - started, 3))
            self._seen = None if current is None else current.seq
        finally:
            if lock is not None:
                lock.release()
