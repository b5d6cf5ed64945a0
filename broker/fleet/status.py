"""OPA Status API reports (``POST /status[/<partition>]``) and the fleet view built from them.

OPA reports on every bundle activation (success or failure), on plugin state changes and after
decision-log uploads; each bundle download attempt also refreshes ``last_request``. An agent is
*stale* when the revision it runs is not the active one, or when it has not reported for
``agent_stale_after_s`` (it may be dead, partitioned, or unable to reach the broker).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from broker.fleet.errors import StatusInvalid
from broker.fleet.store import AgentRow

_BUNDLE_FIELDS = (
    "active_revision", "last_successful_activation", "last_successful_download",
    "last_successful_request", "last_request", "code", "message", "http_code", "errors", "type", "size",
)


def agent_id(report: Any) -> str:
    """Validate a status report just enough to file it; returns ``labels.id``."""
    if not isinstance(report, dict):
        raise StatusInvalid("status report must be a JSON object")
    labels = report.get("labels")
    if not isinstance(labels, dict) or not isinstance(labels.get("id"), str) or not labels["id"]:
        raise StatusInvalid("status report needs labels.id (the OPA instance id)")
    for section in ("bundles", "plugins"):
        if section in report and not isinstance(report[section], dict):
            raise StatusInvalid(f"status {section} must be an object")
    return str(labels["id"])


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def agent_view(
    row: AgentRow, *, bundle_name: str, active_revision: str, now: float, stale_after_s: float
) -> dict[str, Any]:
    status = row.status
    ours = _obj(status.get("bundles")).get(bundle_name)
    bundle = {k: ours[k] for k in _BUNDLE_FIELDS if isinstance(ours, dict) and k in ours}
    running = bundle.get("active_revision") or None
    plugins = {name: p.get("state") for name, p in _obj(status.get("plugins")).items() if isinstance(p, dict)}
    age = max(0.0, now - row.received_at)
    reasons = []
    if running != active_revision:
        reasons.append("revision_behind" if running else "no_bundle_active")
    if age > stale_after_s:
        reasons.append("not_reporting")
    problems = [f"plugin {n} is {s}" for n, s in sorted(plugins.items()) if s not in (None, "OK")]
    if bundle.get("code"):
        problems.append(f"bundle {bundle_name}: {bundle.get('code')}: {bundle.get('message', '')}".rstrip(": "))
    labels = _obj(status.get("labels"))
    return {
        "id": row.agent_id,
        "labels": labels,
        "version": labels.get("version"),
        "reported_by": row.reported_by,
        "last_report": _iso(row.received_at),
        "age_s": round(age, 3),
        "revision": running,
        "revision_current": running == active_revision,
        "bundle": bundle,
        "plugins": plugins,
        "decision_logs": status.get("decision_logs"),
        "stale": bool(reasons),
        "stale_reasons": reasons,
        "problems": problems,
    }


def fleet_view(
    rows: Sequence[AgentRow], *, bundle_name: str, active_revision: str, now: float, stale_after_s: float
) -> dict[str, Any]:
    agents = [
        agent_view(r, bundle_name=bundle_name, active_revision=active_revision, now=now, stale_after_s=stale_after_s)
        for r in rows
    ]
    by_revision: dict[str, int] = {}
    for a in agents:
        key = a["revision"] or "(none)"
        by_revision[key] = by_revision.get(key, 0) + 1
    return {
        "bundle": bundle_name,
        "active_revision": active_revision,
        "stale_after_s": stale_after_s,
        "summary": {
            "agents": len(agents),
            "stale": sum(1 for a in agents if a["stale"]),
            "current": sum(1 for a in agents if a["revision_current"]),
            "by_revision": by_revision,
        },
        "agents": agents,
    }


def strip_heavy(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report as stored: Prometheus metrics dumps are large and not needed for the view."""
    out = dict(report)
    metrics = out.get("metrics")
    if isinstance(metrics, dict) and "prometheus" in metrics:
        out["metrics"] = {k: v for k, v in metrics.items() if k != "prometheus"}
    return out
