"""One object the composition root builds, starts and stops: service + jobs + scheduler + shadow.

``broker/runtime.py`` should do, in ``start``::

    lifecycle = build_lifecycle(store.engine, engine_name=settings.engine, registry=..., audit=...,
                                activator=..., history=...)
    state.lifecycle = lifecycle      # api.py finds it here
    lifecycle.start()                # re-activates the stored active version, starts the scheduler

and ``lifecycle.stop()`` in ``stop``; ``routers()`` returns ``broker.lifecycle.api.router``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from broker.engine.factory import create_engine
from broker.lifecycle.jobs import JobRunner
from broker.lifecycle.protocols import AuditSink, DecisionHistory, EngineFactory, PolicyActivator, RegistrySource
from broker.lifecycle.scheduler import ActivationScheduler
from broker.lifecycle.service import LifecycleService
from broker.lifecycle.shadow import ShadowEvaluator
from broker.lifecycle.store import LifecycleStore


@dataclass
class Lifecycle:
    service: LifecycleService
    jobs: JobRunner
    scheduler: ActivationScheduler
    shadow: ShadowEvaluator

    def start(self, *, restore_active: bool = True) -> None:
        if restore_active:
            self.service.restore_active()
        self.shadow.restore()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.shadow.close()
        self.jobs.close()


def build_lifecycle(
    db: Engine,
    *,
    registry: RegistrySource,
    audit: AuditSink,
    activator: PolicyActivator | None,
    history: DecisionHistory | None = None,
    engine_name: str = "regorus",
    engine_factory: EngineFactory | None = None,
    impact_workers: int | None = None,
    scheduler_interval_s: float = 1.0,
) -> Lifecycle:
    """``db`` must already be migrated (``broker.storage.migrate``: the lifecycle branch is there)."""
    factory = engine_factory or (lambda: create_engine(engine_name))
    service = LifecycleService(
        LifecycleStore(db),
        engine_factory=factory,
        registry=registry,
        audit=audit,
        activator=activator,
        history=history,
        engine_name=engine_name,
        impact_workers=impact_workers,
    )
    return Lifecycle(
        service=service,
        jobs=JobRunner(),
        scheduler=ActivationScheduler(service, interval_s=scheduler_interval_s),
        shadow=ShadowEvaluator(service),
    )
