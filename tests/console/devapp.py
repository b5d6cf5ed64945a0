"""The real broker app plus whatever ``broker.runtime`` does not wire yet, for the console tests.

The end-to-end tests prefer a real ``tollgate serve`` subprocess whenever it serves ``/console/``
and ``/v1/policies``; until then they run this: ``create_app`` (same services), plus the console
router and, if missing, the policy lifecycle wired the way ``broker/lifecycle/wiring.py`` asks,
with an activator that swaps the decisions SnapshotManager like the runtime's will.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from broker.app import create_app
from broker.config import Settings
from broker.console import router as console_router


def _mounted(app: FastAPI, prefix: str) -> bool:
    return any(getattr(r, "path", "").startswith(prefix) for r in app.routes)


class _SnapshotActivator:
    """Make a policy version live for pre-flight: new modules into the runtime, one snapshot swap."""

    def __init__(self, runtime: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.runtime = runtime
        self.loop = loop
        self.loop_thread = threading.current_thread()  # built in the lifespan, on the serving thread

    def activate(self, version_id: str, modules: Mapping[str, str], data: Mapping[str, Any]) -> None:
        rt = self.runtime
        rt.policy_modules, rt.policy_revision, rt.policy_data = dict(modules), version_id, dict(data)
        # Build off the loop, swap on the serving thread (regorus engines are per thread).
        if threading.current_thread() is self.loop_thread:
            rt.snapshots.refresh()
            return
        asyncio.run_coroutine_threadsafe(rt.snapshots.refresh_async(), self.loop).result(timeout=120)


class _LogHistory:
    """Logged decisions since a time, from the audit log's search index."""

    def __init__(self, audit: Any) -> None:
        self.audit = audit

    def iter_decisions(self, since: datetime) -> Iterator[Mapping[str, Any]]:
        after = -1
        while True:
            page = self.audit.search(since=since.timestamp(), after=after, limit=1000)
            for hit in page:
                if hit["record"].get("kind") == "decision":
                    yield hit["record"]
            if len(page) < 1000:
                return
            after = page[-1]["index"]


def _audit_policy(rt: Any, record: Mapping[str, Any]) -> int:
    """Lifecycle records -> the audit log's admin records. The log knows only a few policy actions
    (ADMIN_ACTIONS); the others are logged as ``policy.draft`` with the real step in the details."""
    from broker.audit.records import ADMIN_ACTIONS, admin_record

    rec = json.loads(json.dumps(dict(record), default=str))
    step = str(rec.pop("action"))
    action = f"policy.{step}" if f"policy.{step}" in ADMIN_ACTIONS else "policy.draft"
    actor = rec.pop("actor", {})
    who = str(actor.get("sub", "system")) if isinstance(actor, dict) else str(actor)
    subject = str(rec.get("version_id") or "")
    index: int = rt.audit.append(admin_record(action=action, actor=who, subject=subject,
                                              details={"lifecycle_action": step, **rec}))
    return index


def create_dev_app(data_dir: Path) -> FastAPI:
    app = create_app(Settings(data_dir=data_dir, include_demo=True, audit_checkpoint_interval_s=0.2))
    if not _mounted(app, "/console"):
        app.include_router(console_router)
    if _mounted(app, "/v1/policies"):
        return app
    from broker.lifecycle.api import router as lifecycle_router
    from broker.lifecycle.sources import ServiceRegistrySource
    from broker.lifecycle.wiring import build_lifecycle

    app.include_router(lifecycle_router)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        async with inner(a):
            rt = a.state.runtime
            registry = rt.registry

            def head() -> int:
                info = registry.head()
                return info.number if info else 0

            lifecycle = build_lifecycle(
                rt.store.engine,
                registry=ServiceRegistrySource(head, registry.load),
                audit=lambda record: _audit_policy(rt, record),
                activator=_SnapshotActivator(rt, asyncio.get_running_loop()),
                history=_LogHistory(rt.audit),
                engine_name=rt.settings.engine,
            )
            a.state.lifecycle = lifecycle
            lifecycle.start()
            try:
                yield
            finally:
                lifecycle.stop()

    app.router.lifespan_context = lifespan
    return app
