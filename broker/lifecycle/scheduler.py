"""The scheduled-activation worker: a daemon thread that fires due schedules.

Schedules live in the database, so a restart loses nothing: the new process's scheduler finds the
pending rows and fires the overdue ones at once. Two broker processes may both run one; a
schedule is claimed by the activation transaction, so it fires once.
"""

from __future__ import annotations

import threading

import structlog

from broker.lifecycle.service import LifecycleService

log = structlog.get_logger(__name__)


class ActivationScheduler:
    def __init__(self, service: LifecycleService, *, interval_s: float = 1.0) -> None:
        self.service = service
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="policy-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def poke(self) -> None:
        """Check now (e.g. right after a schedule was added)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for sid in self.service.run_due():
                    log.info("policy.schedule_handled", schedule_id=sid)
            except Exception as exc:  # keep the worker alive: the next tick retries
                log.error("policy.scheduler_failed", error=f"{type(exc).__name__}: {exc}")
            self._wake.wait(self.interval_s)
            self._wake.clear()
