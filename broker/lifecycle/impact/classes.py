"""Classes of registry records that decide alike: one representative is evaluated per class.

Two tenants whose records are identical apart from what identifies them (id, name, source)
decide identically -- unless a policy tells them apart by what identifies them, and a policy or
the registry naming a tenant keeps it alone. The same holds for targets (identical apart from
ids, names, codes, cities and sources of the target and its member regions; a target with any of
those named by a policy stays alone), split per model by the model's deployment on each target,
since ``deployments`` is keyed by target id. impact.py spot-checks these assumptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from broker.lifecycle.files import canonical_json

# "deployed": every tenant x every (target, model) pair where the model is deployed -- the
# decisions a gateway can actually be asked for; "full": every tenant x target x model.
MatrixScope = Literal["deployed", "full"]
TENANT_IDENTITY = frozenset({"id", "name", "source"})
# Fields of a target record that only identify it or feed messages. ``members`` lists region ids
# (identity; their facts are in ``member_facts``) and ``unknown_members`` is the ids of the
# ``member_facts`` entries marked ``known: false``, so neither adds a fact.
TARGET_IDENTITY = frozenset({"id", "name", "source", "members", "unknown_members"})
# The same inside a member region's facts: its id, its cloud-specific code, its display name,
# its city (a label below the country; no rule attaches meaning to it) and its source.
REGION_IDENTITY = frozenset({"region", "code", "name", "city", "source"})


def classes_of(keys: Mapping[str, bytes]) -> dict[str, list[str]]:
    """Representative (first in sorted order) -> members (itself included) of ids with equal keys."""
    by_key: dict[bytes, list[str]] = {}
    for ident in sorted(keys):
        by_key.setdefault(keys[ident], []).append(ident)
    return {members[0]: members for members in by_key.values()}


def alone(ids: Iterable[str]) -> dict[str, list[str]]:
    return {i: [i] for i in sorted(ids)}


def tenants_facts(doc: Mapping[str, Any], texts: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per tenant: its record without what identifies it, plus ``__id`` when it is named anywhere
    besides its own record (a model's trusted partners, a policy module, policy data)."""
    reg = doc["tollgate"]["registry"]
    named: set[str] = set()
    for m in reg.get("models", {}).values():
        named.update(m.get("trusted_partners", {}))
    corpus = "\n".join(texts)
    out: dict[str, dict[str, Any]] = {}
    for tid, record in reg.get("tenants", {}).items():
        facts = {k: v for k, v in record.items() if k not in TENANT_IDENTITY}
        if tid in named or tid in corpus:
            facts["__id"] = tid
        out[tid] = facts
    return out


def tenant_classes(doc: Mapping[str, Any], texts: Iterable[str]) -> dict[str, list[str]]:
    """Representative tenant -> members (itself included) with identical decision-relevant facts.

    A named tenant (see :func:`tenants_facts`) stays in a class of its own.
    """
    return classes_of({tid: canonical_json(f) for tid, f in tenants_facts(doc, texts).items()})


def target_facts(record: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """A target's decision-relevant facts, and the identifying strings left out of them.

    Kept: kind, global, edges, and per member region whether it is known, its cloud, partition,
    country, restricted_access and resolved jurisdiction (so two targets only match when their
    member regions match one by one, in order). Party facts keep their group and window; their
    message and the ``party``/``source`` of their facts name the region, so those are left out.
    """
    dropped = {record.get("id"), record.get("name"), *record.get("members", [])}
    facts = {k: v for k, v in record.items() if k not in TARGET_IDENTITY}
    members = []
    for m in record.get("member_facts", []):
        dropped.update(v for k, v in m.items() if k in REGION_IDENTITY and k != "source")
        members.append({k: v for k, v in m.items() if k not in REGION_IDENTITY})
    facts["member_facts"] = members
    facts["party_facts"] = [
        {k: v for k, v in f.items() if k != "message"}
        | {"facts": {k: v for k, v in f.get("facts", {}).items() if k not in ("party", "source")}}
        for f in record.get("party_facts", [])
    ]
    return facts, {s for s in dropped if isinstance(s, str) and s}


def targets_facts(doc: Mapping[str, Any], texts: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per target: :func:`target_facts`, plus ``__id`` when a policy module or policy data names
    anything left out of them (its id or name, a member region's id, code, name or city): that
    text may be a rule about exactly that target."""
    corpus = "\n".join(texts)
    out: dict[str, dict[str, Any]] = {}
    for tid, record in doc["tollgate"]["registry"].get("targets", {}).items():
        facts, dropped = target_facts(record)
        if any(s in corpus for s in dropped):
            facts["__id"] = tid
        out[tid] = facts
    return out


def target_classes(doc: Mapping[str, Any], texts: Iterable[str]) -> dict[str, list[str]]:
    """Representative target -> members (itself included) with identical decision-relevant facts."""
    return classes_of({tid: canonical_json(f) for tid, f in targets_facts(doc, texts).items()})


def deployment_facts(records: Sequence[Mapping[str, Any]] | None) -> Any:
    """A model's deployment records on one target without their source (message text only)."""
    if records is None:
        return None
    return [{k: v for k, v in r.items() if k != "source"} for r in records]


def pair_classes(doc: Mapping[str, Any], targets: Mapping[str, list[str]]) -> dict[tuple[str, str], list[str]]:
    """(representative target, model) -> member targets, for every model and every target class.

    A model's ``deployments`` object is keyed by target id, so members of one target class can
    differ for a given model: each class is split, per model, by the model's deployment there.
    """
    out: dict[tuple[str, str], list[str]] = {}
    for mid, model in sorted(doc["tollgate"]["registry"].get("models", {}).items()):
        deployments = model.get("deployments", {})
        for members in targets.values():
            split: dict[bytes, list[str]] = {}
            for tg in members:
                split.setdefault(canonical_json(deployment_facts(deployments.get(tg))), []).append(tg)
            for group in split.values():
                out[(group[0], mid)] = group
    return out


def in_scope(pairs: dict[tuple[str, str], list[str]], reg: Mapping[str, Any],
             scope: MatrixScope) -> dict[tuple[str, str], list[str]]:
    """``full``: every class. ``deployed``: the classes of (target, model) pairs where the model
    is deployed (a class is split by deployment, so its members are all deployed or none)."""
    if scope == "full":
        return pairs
    return {(tg, m): members for (tg, m), members in pairs.items()
            if tg in reg["models"][m].get("deployments", {})}
