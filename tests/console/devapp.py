"""The real broker app plus the console router, for as long as ``broker.runtime`` does not mount
the console itself. The end-to-end tests prefer a real ``tollgate serve`` subprocess whenever it
serves ``/console/``, and fall back to this (same app and services, in a uvicorn thread)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from broker.app import create_app
from broker.config import Settings
from broker.console import router as console_router


def create_dev_app(data_dir: Path) -> FastAPI:
    app = create_app(Settings(data_dir=data_dir, include_demo=True, audit_checkpoint_interval_s=0.2))
    if not any(getattr(r, "path", "").startswith("/console") for r in app.routes):
        app.include_router(console_router)
    return app
