"""Shadow mode: an approved version evaluates live traffic beside the active one, answering nobody.

``observe(input, active_result)`` is called by pre-flight after it has its answer. It only
enqueues (bounded, never blocks, drops when full), so shadow evaluation adds no latency and can
never change or fail a request. A worker thread evaluates the shadow version on the same input,
and records every disagreement (allow, reason codes or obligation codes) in batches.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from broker.engine.interface import PolicyBundle, PolicyEngine
from broker.lifecycle.errors import InvalidTransition
from broker.lifecycle.files import merged_data
from broker.lifecycle.impact import differs
from broker.lifecycle.impact.evaluation import compact
from broker.lifecycle.service import LifecycleService
from broker.lifecycle.states import State
from broker.lifecycle.store import utcnow
from broker.security.principal import Principal

log = structlog.get_logger(__name__)
FLUSH_EVERY = 200
FLUSH_SECONDS = 1.0


@dataclass(eq=False)
class _Run:
    id: int
    version_id: str
    modules: dict[str, str]
    data: dict[str, Any]
    engine: PolicyEngine | None = None
    registry_revision: int | None = None


class ShadowEvaluator:
    def __init__(self, service: LifecycleService, *, queue_size: int = 10_000) -> None:
        self.service = service
        self._queue: queue.Queue[tuple[_Run, dict[str, Any], dict[str, Any]] | None] = queue.Queue(queue_size)
        self._run: _Run | None = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._closing = False
        self.dropped = 0
        service.shadow = self

    # --- control ---------------------------------------------------------------------------------

    def start(self, ref: str, actor: Principal) -> dict[str, Any]:
        vid = self.service.resolve(ref)
        record = self.service.store.get(vid)
        if record.state not in (State.APPROVED, State.SUPERSEDED) or record.approval is None:
            raise InvalidTransition(
                f"only an approved version can run in shadow mode; {vid[:12]} is {record.state.value}",
                details={"version_id": vid, "state": record.state.value},
            )
        with self._lock:
            if self._run is not None:
                raise InvalidTransition("a shadow run is already active; stop it first")
            with self.service.store.write() as conn:
                run_id = self.service.store.start_shadow(conn, vid, actor.subject)
                self.service._step(conn, "shadow.start", actor, vid, run_id=run_id)
            self._attach(run_id, vid)
        return self.summary()

    def _attach(self, run_id: int, vid: str) -> None:
        pset = self.service.store.files(vid)
        self._run = _Run(run_id, vid, pset.modules, pset.data)
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="policy-shadow", daemon=True)
            self._worker.start()

    def stop(self, actor: Principal) -> dict[str, Any]:
        with self._lock:
            run = self._run
            if run is None:
                raise InvalidTransition("no shadow run is active")
            self.flush()
            self._run = None
            with self.service.store.write() as conn:
                self.service.store.stop_shadow(conn, run.id, actor.subject)
                self.service._step(conn, "shadow.stop", actor, run.version_id, run_id=run.id)
        return self.summary(run.id)

    def restore(self) -> None:
        """At startup: resume a run the previous process left open."""
        self._closing = False
        open_run = self.service.store.running_shadow()
        if open_run is not None:
            with self._lock:
                self._attach(open_run["id"], open_run["version_id"])

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker (it stores what it has counted first); the run stays open in the
        store, so the next start resumes it."""
        with self._lock:
            self._closing = True
            worker = self._worker
        if worker is not None:
            worker.join(timeout)

    # --- hot path --------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether a shadow run is on (cheap: pre-flight checks it before building anything)."""
        return self._run is not None

    def observe(self, input: Mapping[str, Any], active_result: Mapping[str, Any]) -> None:
        run = self._run
        if run is None:
            return
        try:
            self._queue.put_nowait((run, dict(input), dict(active_result)))
        except queue.Full:
            self.dropped += 1

    # --- worker ----------------------------------------------------------------------------------

    def _engine(self, run: _Run, revision: int | None) -> PolicyEngine:
        if run.engine is None or (revision is not None and revision != run.registry_revision):
            rev, doc = self.service.registry.data_document(revision)
            engine = self.service.engine_factory()
            engine.load(PolicyBundle(run.modules, merged_data(doc, run.data), run.version_id, rev))
            if run.engine is not None:
                run.engine.close()
            run.engine, run.registry_revision = engine, rev
        return run.engine

    def _work(self) -> None:
        pending: dict[int, list[dict[str, Any]]] = {}
        counts: dict[int, list[int]] = {}
        while True:
            try:
                item = self._queue.get(timeout=FLUSH_SECONDS)
            except queue.Empty:
                item = None
            if item is not None:
                run, inp, active = item
                tally = counts.setdefault(run.id, [0, 0])
                tally[0] += 1
                try:
                    rev = active.get("registry_revision")
                    shadow = self._engine(run, rev if isinstance(rev, int) else None).evaluate(inp)
                    a, s = compact(active), compact(shadow)
                    if differs(a, s):
                        pending.setdefault(run.id, []).append(_row(inp, active, shadow, a, s))
                except Exception as exc:
                    tally[1] += 1
                    log.warning("policy.shadow_eval_failed", error=str(exc))
                self._queue.task_done()
            if item is None or sum(c[0] for c in counts.values()) >= FLUSH_EVERY or self._closing:
                self._flush(pending, counts)
            # With no run left (or the broker stopping) the worker ends, and with it this
            # thread's engines: a regorus engine may only be freed by the thread that built it.
            # Decided under the lock _attach holds, so a new run always finds a live worker.
            if item is None or self._closing:
                with self._lock:
                    if self._closing or (self._run is None and self._queue.empty()):
                        self._worker = None
                        return

    def _flush(self, pending: dict[int, list[dict[str, Any]]], counts: dict[int, list[int]]) -> None:
        for run_id in set(pending) | set(counts):
            observed, errors = counts.get(run_id, [0, 0])
            try:
                self.service.store.record_shadow(run_id, observed, errors, pending.get(run_id, []))
            except Exception as exc:  # keep the counts for the next attempt
                log.error("policy.shadow_flush_failed", error=str(exc))
                return
        pending.clear()
        counts.clear()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything observed so far is evaluated and stored (tests, stop)."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        done.wait(timeout)
        # The worker flushes on an idle tick; give it one.
        threading.Event().wait(FLUSH_SECONDS * 1.5)

    # --- reading ---------------------------------------------------------------------------------

    def summary(self, run_id: int | None = None) -> dict[str, Any]:
        store = self.service.store
        run = store.shadow_run(run_id) if run_id is not None else store.running_shadow()
        if run is None:
            return {"running": False, "run": None}
        groups = store.shadow_groups(run["id"])
        return {
            "running": run["stopped_at"] is None,
            "run": run,
            "disagreements": sum(g["count"] for g in groups),
            "dropped": self.dropped,
            "groups": groups,
            "recent": store.shadow_disagreements(run["id"], limit=20),
        }


def _row(
    inp: Mapping[str, Any], active: Mapping[str, Any], shadow: Mapping[str, Any], a: Any, s: Any
) -> dict[str, Any]:
    def text(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)

    return {
        "at": utcnow(),
        "tenant": str(inp.get("tenant"))[:200],
        "target": str(inp.get("target", inp.get("region")))[:200],
        "model": str(inp.get("model"))[:200],
        "active_revision": str(active.get("policy_revision") or "")[:80] or None,
        "active_allow": a[0],
        "shadow_allow": s[0],
        "active_codes": text(list(a[1])),
        "shadow_codes": text(list(s[1])),
        "input": text(inp),
        "active_result": text(active),
        "shadow_result": text(shadow),
    }
