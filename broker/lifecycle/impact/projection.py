"""Records projected onto the fields a change can read (relevance/): the first, coarse stage
of the impact matrix groups tenants and (target, model) pairs by these.

A projected record keeps, at every depth, only the keys the change can read: a key read *whole*
keeps its value as is, a *keyed* one (iterated, or looked up by a computed key) keeps an object
as is and a list element by element, projected, like a key a ref goes on below. What identifies
a record is left out as in classes.py (it is assumed to feed messages only; a named record
stays alone by ``__id``), except that lists of member region ids become their length.

A model's ``deployments`` is keyed by target id, so when the change can read it (or
``deployed_targets``), a (target, model) pair's key holds the model's deployment on that target;
the map itself is kept only if the change reads it other than by a record's id. Trusted partners
are keyed by tenant id: a tenant named there stays alone, so a kept map decides alike for all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from broker.lifecycle.files import canonical_json
from broker.lifecycle.impact.classes import classes_of, deployment_facts, targets_facts, tenants_facts
from broker.lifecycle.impact.relevance.tags import Fields

_MODEL_IDENTITY = frozenset({"id", "name", "source"})
_ID_LISTS = ("members", "unknown_members")  # region ids of a target: their count is a fact


class Projection:
    """Projected keys of every tenant, target, model and (target, model) pair of a document."""

    def __init__(self, doc: Mapping[str, Any], fields: Fields, texts: Iterable[str]) -> None:
        self.fields = fields
        self._names = fields.names()
        self._as_is = fields.whole
        self._objects_as_is = fields.keyed | fields.by_id
        texts = list(texts)
        reg = doc["tollgate"]["registry"]
        self.tenant = {tid: canonical_json(self.project(f)) for tid, f in tenants_facts(doc, texts).items()}
        self.target: dict[str, bytes] = {}
        for tid, facts in targets_facts(doc, texts).items():
            projected = self.project(facts)
            for key in _ID_LISTS:
                if key in self._names:
                    projected[key] = len(reg["targets"][tid].get(key) or [])
            self.target[tid] = canonical_json(projected)
        self._deployments = reg.get("models", {})
        self.per_target = bool({"deployments", "deployed_targets"} & self._names)
        corpus = "\n".join(texts)
        self.model: dict[str, bytes] = {}
        for mid, record in reg.get("models", {}).items():
            facts = {k: v for k, v in record.items() if k not in _MODEL_IDENTITY}
            facts["deployments"] = {tg: deployment_facts(d) for tg, d in record.get("deployments", {}).items()}
            projected = self.project(facts)
            if not {"deployments"} & (fields.path | fields.keyed | fields.whole):
                projected.pop("deployments", None)  # read by target id only: the pair key has it
            if any(s and s in corpus for s in (mid, record.get("name"))):
                projected["__id"] = mid
            self.model[mid] = canonical_json(projected)

    def project(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: v if k in self._as_is or (k in self._objects_as_is and isinstance(v, dict)) else self.project(v)
                for k, v in value.items()
                if k in self._names or k == "__id"
            }
        if isinstance(value, list):
            return [self.project(v) for v in value]
        return value

    def pair(self, target: str, model: str) -> bytes:
        deployment = b""
        if self.per_target:
            deployment = canonical_json(deployment_facts(self._deployments[model].get("deployments", {}).get(target)))
        return b"\0".join((self.target[target], self.model[model], deployment))

    def tenant_classes(self) -> dict[str, list[str]]:
        return classes_of(self.tenant)

    def pair_classes(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """Representative (target, model) -> member pairs with the same projected key."""
        by_key: dict[bytes, list[tuple[str, str]]] = {}
        for tg, m in sorted(pairs):
            by_key.setdefault(self.pair(tg, m), []).append((tg, m))
        return {members[0]: members for members in by_key.values()}
