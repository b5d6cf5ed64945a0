"""One consistent view for a decision: engine + data + revisions + lookups + cache, swapped whole.

Every pre-flight reads ``SnapshotManager.current`` exactly once and uses only that object, so a
decision can never combine one revision's engine with another's regions or cache. Building a new
snapshot (compiling the data document, loading an engine, probing it) happens off the request
path; going live is one reference assignment.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from broker.decisions.cache import DecisionCache
from broker.decisions.catalog import CatalogIndex
from broker.decisions.model import EngineInfo, Outcome
from broker.decisions.outcome import parse_outcome
from broker.decisions.stats import DecisionStats
from broker.engine.interface import PolicyBundle, PolicyEngine
from broker.errors import EngineFailure, TollgateError, Unavailable
from registry.model import Registry

log = structlog.get_logger(__name__)
_generations = itertools.count(1)
_PROBE_TENANT = "tollgate.preflight-probe"  # never a valid slug in any registry: must be denied


@dataclass(frozen=True)
class SnapshotInputs:
    modules: Mapping[str, str]
    data: Mapping[str, Any]
    policy_revision: str
    registry_revision: int


def inputs_from_registry(
    reg: Registry, registry_revision: int, modules: Mapping[str, str], policy_revision: str
) -> SnapshotInputs:
    """Compile ``reg`` for the policy pack (``broker.policy.datadoc``) and pair it with modules."""
    from broker.policy.datadoc import compile_data_document  # local: built by the policy feature

    return SnapshotInputs(modules, compile_data_document(reg), policy_revision, registry_revision)


def _is_fatal(exc: BaseException) -> bool:
    return isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit)


@dataclass(frozen=True, eq=False)
class PolicySnapshot:
    engine: PolicyEngine
    policy_revision: str
    registry_revision: int
    catalog: CatalogIndex
    cache: DecisionCache
    engine_info: EngineInfo
    generation: int = field(default_factory=lambda: next(_generations))
    stats: DecisionStats = field(default_factory=DecisionStats, compare=False, repr=False)

    def evaluate(self, input: Mapping[str, Any]) -> Outcome:
        """Run the engine; any failure at all (even a Rust panic) becomes EngineFailure."""
        started = time.perf_counter()
        try:
            outcome = self._evaluate(input)
        except TollgateError as exc:
            self.stats.failed(exc.code)
            raise
        self.stats.evaluations.observe(time.perf_counter() - started)
        return outcome

    def _evaluate(self, input: Mapping[str, Any]) -> Outcome:
        try:
            document = self.engine.evaluate(input)
        except TollgateError as exc:
            if isinstance(exc, Unavailable):
                raise
            raise EngineFailure(f"engine error: {exc.message}") from exc
        except BaseException as exc:
            if _is_fatal(exc):
                raise
            raise EngineFailure(f"engine crashed: {type(exc).__name__}: {exc}") from None
        if not isinstance(document, dict):
            raise EngineFailure("engine returned no decision document", code="ENGINE_BAD_OUTPUT")
        return parse_outcome(document)

    def probe(self) -> None:
        """A decision for ids no registry has must be a well-formed deny; otherwise refuse."""
        outcome = self.evaluate(
            {
                "tenant": _PROBE_TENANT,
                "target": "probe:none",
                "model": _PROBE_TENANT,
                "subject": None,
                "now_ns": time.time_ns(),
            }
        )
        if outcome.allow:
            raise EngineFailure("policy allows an unknown tenant; refusing to activate it")


def build_snapshot(
    inputs: SnapshotInputs, engine_factory: Callable[[], PolicyEngine], *, cache_size: int = 100_000,
    stats: DecisionStats | None = None,
) -> PolicySnapshot:
    """Load a fresh engine with ``inputs`` and probe it. Old snapshots keep their own engines;
    ``stats`` (default: the snapshot's own) counts its evaluations."""
    engine = engine_factory()
    engine.load(
        PolicyBundle(
            modules=dict(inputs.modules),
            data=inputs.data,
            policy_revision=inputs.policy_revision,
            registry_revision=inputs.registry_revision,
        )
    )
    snap = PolicySnapshot(
        engine=engine,
        policy_revision=inputs.policy_revision,
        registry_revision=inputs.registry_revision,
        catalog=CatalogIndex.from_data(inputs.data),
        cache=DecisionCache(cache_size),
        engine_info=EngineInfo(engine.name, engine.version),
        stats=stats or DecisionStats(),
    )
    snap.probe()
    release_thread_engine(engine)
    return snap


def release_thread_engine(engine: PolicyEngine) -> None:
    """Drop the calling thread's native engine of a thread-bound adapter (regorus).

    A regorus engine may only be freed on the thread that made it; one left in a builder
    thread's slot would later be freed by whichever thread collects the old snapshot, which
    pyo3 refuses (it leaks the engine and reports "unsendable ... dropped on another thread").
    Serving threads build their own engine on first use (or in ``activate(warm=True)``).
    """
    release = getattr(engine, "release_thread", None)
    if callable(release):
        release()


SwapListener = Callable[[PolicySnapshot], None]


class SnapshotManager:
    """Holds the live snapshot; rebuilds from ``source`` on demand (e.g. registry on_commit)."""

    def __init__(
        self,
        engine_factory: Callable[[], PolicyEngine],
        *,
        source: Callable[[], SnapshotInputs] | None = None,
        cache_size: int = 100_000,
    ) -> None:
        self._factory = engine_factory
        self._source = source
        self._cache_size = cache_size
        self._current: PolicySnapshot | None = None
        self._build_lock = threading.Lock()  # one build at a time: the newest source always wins
        self._listeners: list[SwapListener] = []
        self._wake = threading.Event()
        self._worker: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_error: str | None = None
        self.stats = DecisionStats()  # shared by every snapshot this manager builds

    def close(self) -> None:
        """Take the live snapshot down and free this thread's engine (call on the serving thread)."""
        old, self._current = self._current, None
        if old is not None:
            release_thread_engine(old.engine)

    def serve_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Background rebuilds will warm and swap on ``loop``'s thread (the one that evaluates)."""
        self._loop = loop

    @property
    def current(self) -> PolicySnapshot:
        snap = self._current
        if snap is None:
            raise Unavailable("no policy is loaded yet", code="POLICY_NOT_LOADED")
        return snap

    @property
    def ready(self) -> bool:
        return self._current is not None

    def subscribe(self, listener: SwapListener) -> None:
        self._listeners.append(listener)

    def build(self, inputs: SnapshotInputs) -> PolicySnapshot:
        return build_snapshot(inputs, self._factory, cache_size=self._cache_size, stats=self.stats)

    def activate(self, snap: PolicySnapshot, *, warm: bool = True) -> None:
        """Make ``snap`` live. ``warm`` probes it on the calling thread first, so that thread's
        per-thread engine (regorus engines cannot cross threads) is built before traffic uses it.
        """
        if warm:
            snap.probe()
        old = self._current
        self._current = snap  # the swap (and, since the cache lives in the snapshot, invalidation)
        if old is not None and old.engine is not snap.engine:
            # Free the old engine's native state here, on the serving thread that made it, rather
            # than wherever the garbage collector happens to run. A bulk request still holding
            # the old snapshot keeps working: the adapter rebuilds on demand.
            release_thread_engine(old.engine)
        log.info(
            "decisions.snapshot_activated",
            policy_revision=snap.policy_revision,
            registry_revision=snap.registry_revision,
            generation=snap.generation,
        )
        for listener in self._listeners:
            listener(snap)

    def load(self, inputs: SnapshotInputs) -> PolicySnapshot:
        with self._build_lock:
            snap = self.build(inputs)
            self.activate(snap)
            return snap

    def refresh(self) -> PolicySnapshot:
        """Rebuild from the source now (blocking) and activate the result."""
        if self._source is None:
            raise ValueError("this SnapshotManager has no source")
        with self._build_lock:
            snap = self.build(self._source())
            self.activate(snap)
            return snap

    async def refresh_async(self) -> PolicySnapshot:
        """Build in a worker thread, then warm and swap on the event-loop thread that serves."""
        if self._source is None:
            raise ValueError("this SnapshotManager has no source")
        source = self._source

        def build() -> PolicySnapshot:
            with self._build_lock:
                return self.build(source())

        snap = await asyncio.to_thread(build)
        self.activate(snap)
        return snap

    def request_refresh(self, *_: Any) -> None:
        """Schedule a rebuild in the background; bursts of calls coalesce into one build.

        Suitable as a ``RegistryService.on_commit`` callback. The old snapshot keeps serving until
        the new one is built and probed; a failed build keeps the old one and is logged.
        """
        self._wake.set()
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="snapshot-builder", daemon=True)
            self._worker.start()

    def _activate_logged(self, snap: PolicySnapshot) -> None:
        try:
            self.activate(snap)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("decisions.snapshot_activation_failed", error=self.last_error)

    def _run(self) -> None:
        while self._wake.wait(timeout=60.0):
            self._wake.clear()
            try:
                if self._source is None:
                    raise ValueError("this SnapshotManager has no source")
                with self._build_lock:
                    snap = self.build(self._source())
                loop = self._loop
                if loop is not None and loop.is_running():
                    loop.call_soon_threadsafe(self._activate_logged, snap)
                else:
                    # Not a serving thread: warming here would only leave an engine behind.
                    self.activate(snap, warm=False)
                self.last_error = None
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("decisions.snapshot_build_failed", error=self.last_error)
