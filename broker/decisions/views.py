"""Domain results -> JSON bodies (the shapes documented in ``schemas``), built by hand because
this is the hot path: plain dicts serialised once cost far less than response-model validation."""

from __future__ import annotations

from typing import Any

from broker.decisions.model import Decision, EngineInfo, RouteChanges, RouteEntry, RouteTable
from broker.decisions.timefmt import format_rfc3339_ns


def _time(ns: int | None) -> str | None:
    return None if ns is None else format_rfc3339_ns(ns)


def _engine(e: EngineInfo) -> dict[str, str]:
    return {"name": e.name, "version": e.version}


def decision_json(d: Decision) -> dict[str, Any]:
    o = d.outcome
    return {
        "decision_id": d.decision_id,
        "allow": o.allow,
        "reasons": list(o.reasons),
        "obligations": list(o.obligations),
        "effective_regions": list(d.effective_regions),
        "policy_revision": d.policy_revision,
        "registry_revision": d.registry_revision,
        "engine": _engine(d.engine),
        "evaluated_at": format_rfc3339_ns(d.evaluated_at_ns),
        "valid_until": _time(o.valid_until_ns),
    }


def _route(e: RouteEntry) -> dict[str, Any]:
    return {
        "model": e.model,
        "reasons": list(e.reasons),
        "obligations": list(e.obligations),
        "valid_until": _time(e.valid_until_ns),
    }


def routes_json(t: RouteTable) -> dict[str, Any]:
    return {
        "tenant": t.tenant,
        "region": t.target,
        "effective_regions": list(t.effective_regions),
        "evaluated_at": format_rfc3339_ns(t.evaluated_at_ns),
        "valid_until": _time(t.valid_until_ns),
        "policy_revision": t.policy_revision,
        "registry_revision": t.registry_revision,
        "engine": _engine(t.engine),
        "allowed": [_route(e) for e in t.allowed],
        "excluded": [_route(e) for e in t.excluded],
    }


def changes_json(c: RouteChanges) -> dict[str, Any]:
    return {
        "tenant": c.tenant,
        "since": format_rfc3339_ns(c.from_ns),
        "until": format_rfc3339_ns(c.until_ns),
        "policy_revision": c.policy_revision,
        "registry_revision": c.registry_revision,
        "transitions": [
            {
                "at": format_rfc3339_ns(t.at_ns),
                "model": t.model,
                "region": t.target,
                "allow_before": t.allow_before,
                "allow": t.allow,
                "reasons": list(t.reasons),
            }
            for t in c.transitions
        ],
        "truncated": c.truncated,
    }
