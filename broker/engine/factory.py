"""Create a policy engine by name (``TOLLGATE_ENGINE``); adapters are imported on demand."""

from __future__ import annotations

from typing import Any

from broker.engine.interface import PolicyEngine

DEFAULT_ENGINE = "regorus"
ENGINES = ("regorus", "regopy", "opa")


def create_engine(name: str = DEFAULT_ENGINE, **opts: Any) -> PolicyEngine:
    """A new, unloaded engine. ``opts`` go to the adapter (e.g. ``url=`` for opa).

    Adapters are imported here, not at module level, so that choosing regorus never loads
    rego-cpp's 20 MB library or the HTTP client stack.
    """
    key = name.strip().lower()
    if key == "regorus":
        from broker.engine.regorus_engine import RegorusEngine

        return RegorusEngine(**opts)
    if key == "regopy":
        from broker.engine.regopy_engine import RegopyEngine

        return RegopyEngine(**opts)
    if key == "opa":
        from broker.engine.opa_engine import OpaEngine

        return OpaEngine(**opts)
    raise ValueError(f"unknown policy engine {name!r}; choose one of: {', '.join(ENGINES)}")
