"""What the lifecycle needs from the rest of the broker, as small Protocols the app wires.

* :class:`PolicyActivator` -- make a version live for pre-flight (the decisions SnapshotManager).
* :class:`DecisionHistory` -- logged decisions for replay (the audit log).
* :class:`RegistrySource` -- the compiled data document of a registry revision.
* :data:`AuditSink` -- append one record to the audit log, returning its index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from broker.engine.interface import PolicyEngine

AuditSink = Callable[[dict[str, Any]], int]
EngineFactory = Callable[[], PolicyEngine]


@runtime_checkable
class PolicyActivator(Protocol):
    def activate(self, version_id: str, modules: Mapping[str, str], data: Mapping[str, Any]) -> None:
        """Make ``modules`` (serving modules, no tests) the live policy, atomically.

        ``data`` is the policy-owned data (from the set's ``data.json`` files; usually ``{}``) to
        merge next to ``data.tollgate.registry``. ``version_id`` is the policy revision decisions
        must carry. Raise to refuse; the lifecycle then leaves the previous version active.
        """
        ...


@runtime_checkable
class DecisionHistory(Protocol):
    def iter_decisions(self, since: datetime) -> Iterator[Mapping[str, Any]]:
        """Decision records logged at or after ``since``, oldest first.

        Each record has at least ``input`` (the exact engine input), ``result`` (the decision
        document as returned), ``registry_revision`` and ``policy_revision``; ``decision_id`` and
        ``time`` are shown when present.
        """
        ...


@runtime_checkable
class RegistrySource(Protocol):
    def data_document(self, revision: int | None = None) -> tuple[int, Mapping[str, Any]]:
        """(revision, compiled data document) of ``revision``, or of the head when None."""
        ...
