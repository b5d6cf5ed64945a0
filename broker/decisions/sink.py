"""Where decisions are recorded. ``broker.audit``'s AuditLog satisfies this interface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class DecisionSink(Protocol):
    def append(self, record: Mapping[str, Any]) -> int:
        """Durably store ``record``; return its index. Raise on any failure (never drop)."""
        ...

    async def append_async(self, record: Mapping[str, Any]) -> int:
        """As ``append``, without blocking the event loop (lets a sink group-commit)."""
        ...
