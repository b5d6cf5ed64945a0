"""Differences between two registries: added, removed and changed entities, per kind.

Entities are compared on their JSON form (the same form that is hashed), so a change shows up here
exactly when the entity digest changes. Changed entities list the leaf field paths that differ, in
the ``deployments[0].target`` notation used by load errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from registry.canonical import entity_body, registry_entities
from registry.errors import Loc, format_loc
from registry.model import KINDS, Registry

_ABSENT: Any = object()


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any  # JSON value; None when the field was absent
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class EntityChange:
    kind: str
    id: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class KindDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[EntityChange, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True)
class RegistryDiff:
    kinds: dict[str, KindDiff] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return all(k.empty for k in self.kinds.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            kind: {
                "added": list(d.added),
                "removed": list(d.removed),
                "changed": [{"id": c.id, "changes": [f.as_dict() for f in c.changes]} for c in d.changed],
            }
            for kind, d in self.kinds.items()
        }


def diff(old: Registry, new: Registry) -> RegistryDiff:
    """What changed from ``old`` to ``new``; every kind is present, unchanged kinds are empty."""
    before = _bodies(old)
    after = _bodies(new)
    kinds: dict[str, KindDiff] = {}
    for kind in KINDS:
        a, b = before.get(kind, {}), after.get(kind, {})
        changed = tuple(
            EntityChange(kind, key, tuple(_changes(a[key], b[key], ())))
            for key in sorted(a.keys() & b.keys())
            if a[key] != b[key]
        )
        kinds[kind] = KindDiff(
            added=tuple(sorted(b.keys() - a.keys())),
            removed=tuple(sorted(a.keys() - b.keys())),
            changed=changed,
        )
    return RegistryDiff(kinds)


def _bodies(reg: Registry) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind, entity in registry_entities(reg):
        body = entity_body(entity)
        key = body.get("code") if kind == "jurisdiction" else body.get("id")
        out.setdefault(kind, {})[str(key)] = body
    return out


def _changes(old: Any, new: Any, loc: Loc) -> Iterable[FieldChange]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            yield from _changes(old.get(key, _ABSENT), new.get(key, _ABSENT), (*loc, key))
    elif isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            yield from _changes(old[i] if i < len(old) else _ABSENT, new[i] if i < len(new) else _ABSENT, (*loc, i))
    elif old != new:  # _ABSENT equals nothing else, so added and removed values land here too
        yield FieldChange(format_loc(loc), None if old is _ABSENT else old, None if new is _ABSENT else new)
