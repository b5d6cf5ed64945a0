"""Canonical bytes and content hashes for registry entities and whole revisions.

Canonical JSON: UTF-8, keys sorted, no insignificant white space, no NaN/Infinity. The same
entity therefore always has the same bytes, whichever database stored it, which is what makes a
revision hash comparable across SQLite and PostgreSQL and a decision replayable years later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from registry.model import KIND_COLLECTIONS, KINDS, Jurisdiction, Registry


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes of a JSON-compatible value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def entity_body(entity: BaseModel) -> dict[str, Any]:
    """The JSON form of an entity as stored and hashed (defaults included, so bytes are total)."""
    return entity.model_dump(mode="json")


def entity_key(entity: BaseModel) -> str:
    """The id an entity is stored under (``code`` for jurisdictions, ``id`` otherwise)."""
    if isinstance(entity, Jurisdiction):
        return entity.code
    key = getattr(entity, "id", None)
    if not isinstance(key, str):
        raise TypeError(f"{type(entity).__name__} has no string id")
    return key


def kind_of(entity: BaseModel) -> str:
    for kind, cls in KINDS.items():
        if isinstance(entity, cls):
            return kind
    raise TypeError(f"{type(entity).__name__} is not a registry entity")


def entity_digest(entity: BaseModel) -> str:
    return hashlib.sha256(canonical_json(entity_body(entity))).hexdigest()


def revision_hash(digests: Iterable[tuple[str, str, str]]) -> str:
    """Content hash of a whole registry from ``(kind, id, sha256-of-canonical-body)`` triples.

    Defined as SHA-256 over the sorted lines ``kind<TAB>id<TAB>digest<LF>``: a hash of the entire
    canonical registry that can be recomputed without materialising one giant document.
    """
    h = hashlib.sha256()
    for kind, key, digest in sorted(digests):
        h.update(f"{kind}\t{key}\t{digest}\n".encode())
    return "sha256:" + h.hexdigest()


def kind_collections(reg: Registry) -> dict[str, Mapping[str, BaseModel]]:
    """Each entity kind's ``id -> entity`` mapping, in the stable kind order of ``KINDS``."""
    return {kind: getattr(reg, collection) for kind, collection in KIND_COLLECTIONS.items()}


def registry_entities(reg: Registry) -> Iterable[tuple[str, BaseModel]]:
    """Every entity of a registry with its kind, in a stable order."""
    for kind, items in kind_collections(reg).items():
        for key in sorted(items):
            yield kind, items[key]


def registry_hash(reg: Registry) -> str:
    return revision_hash(
        (kind, entity_key(e), entity_digest(e)) for kind, e in registry_entities(reg)
    )
