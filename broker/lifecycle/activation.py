"""A self-contained :class:`PolicyActivator`: loads a fresh engine, then swaps one reference.

The broker wires the decisions feature's SnapshotManager instead; this one serves the CLI-less
standalone case and the tests, and shows the contract: build everything off to the side, and go
live with a single assignment, so every evaluation sees exactly one version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.engine.interface import PolicyBundle, PolicyEngine
from broker.errors import Unavailable
from broker.lifecycle.files import merged_data
from broker.lifecycle.protocols import EngineFactory, RegistrySource


@dataclass(frozen=True, eq=False)
class Live:
    version_id: str
    registry_revision: int
    engine: PolicyEngine


class SwapActivator:
    def __init__(self, engine_factory: EngineFactory, registry: RegistrySource) -> None:
        self._factory = engine_factory
        self._registry = registry
        self._live: Live | None = None

    def activate(self, version_id: str, modules: Mapping[str, str], data: Mapping[str, Any]) -> None:
        revision, doc = self._registry.data_document(None)
        engine = self._factory()
        engine.load(PolicyBundle(dict(modules), merged_data(doc, data), version_id, revision))
        self._live = Live(version_id, revision, engine)  # the swap

    @property
    def live(self) -> Live:
        live = self._live
        if live is None:
            raise Unavailable("no policy is active", code="POLICY_NOT_LOADED")
        return live

    def evaluate(self, input: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """(policy revision, decision): read the live reference once, use only it."""
        live = self.live
        return live.version_id, live.engine.evaluate(input)
