"""Lookups the service needs beside the engine, read from the compiled data document.

Layout (``broker.policy.datadoc``): ``data.tollgate.registry`` with ``targets`` (region or scope id
-> ``{members: [...]}``), ``models`` (id -> ``{deployments: {target: [...]}}``) and ``tenants``.
Built once per snapshot, off the request path, so a request only does dict lookups.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CatalogIndex:
    targets: Mapping[str, tuple[str, ...]]  # target id -> member region ids
    models: tuple[str, ...]  # sorted
    deployments: Mapping[str, tuple[str, ...]]  # model id -> targets it is deployed to
    tenants: frozenset[str]
    edges_ns: tuple[int, ...]  # sorted instants at which some registry fact starts/stops

    def effective_regions(self, target: str) -> tuple[str, ...]:
        """Regions that may serve a request sent to ``target``; empty for an unknown target."""
        return self.targets.get(target, ())

    def edges_between(self, after_ns: int, until_ns: int) -> list[int]:
        """Edges in ``(after_ns, until_ns]``, ascending."""
        lo = bisect.bisect_right(self.edges_ns, after_ns)
        hi = bisect.bisect_right(self.edges_ns, until_ns)
        return list(self.edges_ns[lo:hi])

    @classmethod
    def empty(cls) -> CatalogIndex:
        return cls({}, (), {}, frozenset(), ())

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CatalogIndex:
        reg = data.get("tollgate", {}).get("registry", {})
        targets = {
            tid: tuple(str(m) for m in t.get("members", ()))
            for tid, t in reg.get("targets", {}).items()
        }
        models = reg.get("models", {})
        deployments = {mid: tuple(sorted(m.get("deployments", {}))) for mid, m in models.items()}
        return cls(
            targets=targets,
            models=tuple(sorted(models)),
            deployments=deployments,
            tenants=frozenset(reg.get("tenants", {})),
            edges_ns=tuple(sorted(_edges(reg))),
        )


def _edges(obj: Any) -> set[int]:
    """Every ``*_ns`` integer in the document: the instants at which a window opens or closes."""
    found: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key.endswith("_ns") and type(value) is int:
                    found.add(value)
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
    return found
