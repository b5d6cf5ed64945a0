"""A stand-in broker for console tests while ``broker.runtime`` does not wire every feature yet.

It mounts whatever feature routers exist today (registry, pre-flight) over real services, plus
the console router; the end-to-end tests prefer the real ``tollgate serve`` when it serves the
console, and fall back to this.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from broker.config import Settings
from broker.console import router as console_router
from broker.http.errors import install_error_handlers


def create_dev_app(data_dir: Path) -> FastAPI:
    from broker.audit.api import router as audit_router
    from broker.audit.keys import load_or_create_log_key
    from broker.audit.log import AuditLog
    from broker.decisions.api import router as decisions_router
    from broker.decisions.service import DecisionService
    from broker.decisions.snapshot import SnapshotManager, inputs_from_registry
    from broker.engine.factory import create_engine
    from broker.policy.pack import load_pack
    from broker.registry.api import router as registry_router
    from broker.registry.service import RegistryService
    from broker.storage import create_store

    settings = Settings(data_dir=data_dir, include_demo=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = create_store(f"sqlite:///{data_dir / 'tollgate.db'}")
    registry = RegistryService(store)
    registry.bootstrap_shipped(include_demo=True)
    modules = load_pack()

    def source():  # type: ignore[no-untyped-def]
        head = registry.head()
        return inputs_from_registry(registry.load(), head.number if head else 0, modules, "pack")

    snapshots = SnapshotManager(lambda: create_engine(settings.engine), source=source)
    audit = AuditLog(data_dir / "audit", load_or_create_log_key(data_dir / "keys"), settings.log_origin,
                     checkpoint_interval_s=0.2)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from broker.runtime import Runtime

        Runtime(settings).start(app.state)
        snapshots.refresh()
        snapshots.serve_on(asyncio.get_running_loop())
        registry.on_commit(snapshots.request_refresh)
        app.state.registry_service = registry
        audit.start()
        app.state.audit_log = audit
        app.state.decision_service = DecisionService(snapshots, audit)
        try:
            yield
        finally:
            audit.close()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(registry_router)
    app.include_router(decisions_router)
    app.include_router(audit_router)
    app.include_router(console_router)
    return app
