"""Impact analysis: which decisions a candidate policy version changes against the active one.

Two sources of decisions, both evaluated on the base and the candidate with the *same* data:

* **matrix** -- every tenant x (target, model) pair, at ``now`` and then at each upcoming instant
  where either version says its answer could change by itself (the decision's
  ``valid_until_ns``: release-window openings, letter effective dates, ...), up to a horizon.
  Two scopes (``ImpactRequest.matrix``): ``full`` (default) covers every target of the registry
  (each region and each routing scope) x every model, including pairs where the model is not
  deployed: what a candidate answers there is up to the candidate (it may drop or reword the
  deployment check); ``deployed`` covers only the pairs where the model is deployed, i.e. the
  decisions a gateway can route on today.
* **replay** -- the exact inputs of logged decisions of the last N days, each with the registry
  revision it was decided against (styra-style log replay).

A decision is compared by allow, reason codes and obligation codes (``differs``), never by message
text. The matrix runs in two stages:

1. **relevance** (``ImpactRequest.relevance``, on by default) -- relevance/ reads both versions'
   rules and lists the registry fields the change can read; tenants and (target, model) pairs
   are grouped by their records projected onto those fields (projection.py), which for a
   one-concern change leaves a handful of classes. One representative per projected
   combination is followed over time and the combination is flagged when base and candidate
   differ in allow or any reason or obligation item (screen.py, which also spot-checks the
   grouping). Like the classes of stage 2, this assumes what identifies a record only feeds
   messages, and each version's valid_until_ns is never late.
2. **matrix** -- the exact matrix (matrix.py): one representative per tenant class x (target,
   model) class (classes.py: records identical apart from what identifies them, spot-checked),
   each change copied to every member of both classes -- but only for the classes whose
   projected combination stage 1 flagged. The changes are those of running stage 2 alone on
   every class, which is what happens when the analysis declines (policy data differs, a
   construct it does not understand, no active version), when stage 1 would not be much
   smaller than stage 2 (a change to how ``decide`` combines the concerns), or when its spot
   check fails (``matrix.relevance`` says which).

Without stage 1, ``full`` costs tenant classes x (target, model) classes evaluations: on the
shipped catalog plus 1,000 randomly generated tenants, minutes rather than seconds
(benchmarks/impact.py). Either way it runs as a job with progress (phases "spot checks",
"relevance", "matrix", "replay").
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from broker.lifecycle.files import canonical_json
from broker.lifecycle.impact.classes import MatrixScope, target_classes, tenant_classes
from broker.lifecycle.impact.evaluation import PairRunner, compact, default_workers
from broker.lifecycle.impact.matrix import (
    SPOT_CHECKS,
    Change,
    Progress,
    Run,
    differs,
    matrix,
    ns_iso,
    spot_checked_classes,
)
from broker.lifecycle.impact.relevance import try_analyse
from broker.lifecycle.impact.screen import screen
from broker.lifecycle.protocols import DecisionHistory, RegistrySource
from broker.lifecycle.sources import is_engine_input

__all__ = [
    "SPOT_CHECKS", "Change", "ImpactRequest", "MatrixScope", "Progress", "analyze", "approval_summary", "differs",
    "group", "ns_iso", "summarise", "target_classes", "tenant_classes",
]
_NS = 1_000_000_000


# --- replay -------------------------------------------------------------------------------------


def _replay(
    run: Run,
    *,
    history: DecisionHistory,
    since: datetime,
    registry: RegistrySource,
    make_runner: Callable[[Mapping[str, Any]], PairRunner],
    limit: int,
) -> tuple[list[Change], dict[str, Any]]:
    run.phase = "replay"
    by_revision: dict[int, dict[str, tuple[dict[str, Any], list[Mapping[str, Any]]]]] = defaultdict(dict)
    records = 0
    for rec in history.iter_decisions(since):
        inp = rec.get("input")
        if not is_engine_input(inp):
            continue  # e.g. a route-table record: not one replayable decision
        assert isinstance(inp, dict)
        records += 1
        key = canonical_json(inp).decode()
        rev = int(rec.get("registry_revision") or 0)
        by_revision[rev].setdefault(key, (inp, []))[1].append(rec)
        if records >= limit:
            break
    run.total = run.done + sum(len(v) for v in by_revision.values())
    changes: list[Change] = []
    logged_vs_base = 0
    for rev in sorted(by_revision):
        entries = list(by_revision[rev].values())
        _, doc = registry.data_document(rev)
        inner = make_runner(doc)
        try:
            run.runner = inner
            results = run.evaluate([e[0] for e in entries])
        finally:
            inner.close()
        for (inp, recs), (b, c) in zip(entries, results, strict=True):
            logged_vs_base += sum(1 for r in recs if differs(compact(r.get("result")), b))
            if differs(b, c):
                first = recs[-1]
                changes.append(
                    Change(
                        "replay",
                        str(inp.get("tenant")),
                        str(inp.get("target")),
                        str(inp.get("model")),
                        int(inp.get("now_ns") or 0),
                        b,
                        c,
                        inp.get("subject"),
                        first.get("decision_id"),
                        len(recs),
                    )
                )
    info = {
        "since": since.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "records": records,
        "distinct_inputs": sum(len(v) for v in by_revision.values()),
        "registry_revisions": sorted(by_revision),
        "logged_results_differing_from_base": logged_vs_base,
        "truncated": records >= limit,
    }
    return changes, info


# --- the report ---------------------------------------------------------------------------------


def summarise(changes: Sequence[Change]) -> dict[str, Any]:
    by_code: dict[str, dict[str, int]] = defaultdict(lambda: {"added": 0, "removed": 0})
    kinds: dict[str, int] = defaultdict(int)
    for ch in changes:
        kinds[ch.kind] += ch.weight
        for code in ch.codes_added():
            by_code[code]["added"] += ch.weight
        for code in ch.codes_removed():
            by_code[code]["removed"] += ch.weight
    return {
        "changed": sum(ch.weight for ch in changes),
        "gained": kinds["gain"],
        "lost": kinds["lose"],
        "reasons_changed": kinds["reasons"],
        "obligations_changed": kinds["obligations"],
        "tenants_affected": len({c.tenant for c in changes}),
        "models_affected": len({c.model for c in changes}),
        "by_code": {k: by_code[k] for k in sorted(by_code)},
    }


def group(changes: Sequence[Change]) -> list[dict[str, Any]]:
    """Per tenant and model: what changed, where (targets), when, and which codes."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for ch in changes:
        key = (ch.tenant, ch.model, ch.kind, tuple(ch.codes_added()), tuple(ch.codes_removed()))
        g = groups.setdefault(
            key,
            {
                "tenant": ch.tenant,
                "model": ch.model,
                "change": ch.kind,
                "codes_added": list(key[3]),
                "codes_removed": list(key[4]),
                "targets": set(),
                "at": set(),
                "sources": set(),
                "count": 0,
            },
        )
        g["targets"].add(ch.target)
        g["at"].add(ns_iso(ch.at_ns))
        g["sources"].add(ch.source)
        g["count"] += ch.weight
    out = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3], k[4])):
        g = groups[key]
        out.append(g | {"targets": sorted(g["targets"]), "at": sorted(g["at"]), "sources": sorted(g["sources"])})
    return out


@dataclass
class ImpactRequest:
    version_id: str
    candidate: Mapping[str, str]
    base_version_id: str | None
    base: Mapping[str, str] | None
    candidate_data: Mapping[str, Any] = field(default_factory=dict)
    base_data: Mapping[str, Any] = field(default_factory=dict)
    now: datetime | None = None
    horizon_days: int = 365
    replay_days: int = 0
    subjects: Sequence[Any] = (None,)
    tenant_classes: bool = True
    replay_limit: int = 1_000_000
    target_classes: bool = True
    matrix: MatrixScope = "full"
    relevance: bool = True  # stage 1 (see the module docstring); off: the exact matrix on every class


def _matrix(
    run: Run, req: ImpactRequest, *, doc: Mapping[str, Any], texts: list[str], now_ns: int, horizon_ns: int, seed: int
) -> tuple[list[Change], dict[str, Any]]:
    """Both stages of the matrix (see the module docstring) and ``report["matrix"]``."""
    subjects = list(req.subjects)
    grid = spot_checked_classes(
        run, doc=doc, texts=texts, now_ns=now_ns, subjects=subjects, use_classes=req.tenant_classes,
        use_target_classes=req.target_classes, scope=req.matrix, seed=seed,
    )
    relevance: dict[str, Any] = {"used": False, "reason": "switched off by the request"}
    selected = None
    covered = 0
    if req.relevance:
        run.phase = "relevance"
        found = try_analyse(req.base, req.candidate, req.base_data, req.candidate_data)
        if isinstance(found, str):
            relevance["reason"] = found
        else:
            # Stage 1 pays when it is a fraction of the matrix it screens (stage 2 comes on top).
            budget = len(grid.tenants) * len(grid.pairs) // 3
            stage1 = screen(run, doc=doc, texts=texts, relevance=found, scope=req.matrix, now_ns=now_ns,
                            horizon_ns=horizon_ns, subjects=subjects, seed=seed, budget=budget)
            relevance = stage1.info
            if relevance["used"]:
                selected, covered = stage1.select(grid), stage1.covered
    changes, instants, stage2_covered = matrix(run, grid, now_ns=now_ns, horizon_ns=horizon_ns, subjects=subjects,
                                               selected=selected)
    info = grid.info | {
        "evaluated_instants": instants,  # by stage 2
        "decisions_covered": covered + stage2_covered,  # (tenant, target, model, subject, instant) answers
        "relevance": relevance,
    }
    return changes, info


def analyze(
    req: ImpactRequest,
    registry: RegistrySource,
    *,
    history: DecisionHistory | None = None,
    engine_name: str = "regorus",
    workers: int | None = None,
    progress: Progress | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The impact report (JSON-ready). ``report["id"]`` is the SHA-256 of everything else in it."""
    from broker.lifecycle.files import merged_data

    started = time.perf_counter()
    now = req.now or datetime.now(UTC)
    now_ns = int(now.timestamp()) * _NS
    horizon_ns = now_ns + req.horizon_days * 86_400 * _NS
    n_workers = default_workers() if workers is None else workers

    def make_runner(doc: Mapping[str, Any]) -> PairRunner:
        # Both versions get the same registry document; each keeps its own policy-owned data.
        # (Engines load one data document each, so data differences are part of the diff.)
        data_b = merged_data(doc, req.base_data)
        data_c = merged_data(doc, req.candidate_data)
        cand_data = None if data_c == data_b else data_c
        return PairRunner(engine_name, req.base, req.candidate, data_b, cand_data, workers=n_workers)

    revision, doc = registry.data_document(None)
    texts = [*req.candidate.values(), *(req.base or {}).values()]
    texts += [json.dumps(req.candidate_data), json.dumps(req.base_data)]
    runner = make_runner(doc)
    run = Run(runner, progress)
    try:
        changes, matrix_info = _matrix(run, req, doc=doc, texts=texts, now_ns=now_ns, horizon_ns=horizon_ns,
                                       seed=seed)
    finally:
        runner.close()
    matrix_info["registry_revision"] = revision
    replay_changes: list[Change] = []
    replay_info: dict[str, Any] | None = None
    if history is not None and req.replay_days > 0:
        since = now - timedelta(days=req.replay_days)
        replay_changes, replay_info = _replay(
            run, history=history, since=since, registry=registry, make_runner=make_runner, limit=req.replay_limit
        )
    all_changes = changes + replay_changes
    report: dict[str, Any] = {
        "format": "tollgate.impact/1",
        "version_id": req.version_id,
        "base_version_id": req.base_version_id,
        "engine": engine_name,
        "now": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "horizon_days": req.horizon_days,
        "subjects": list(req.subjects),
        "matrix": matrix_info | {"summary": summarise(changes)},
        "replay": None if replay_info is None else replay_info | {"summary": summarise(replay_changes)},
        "summary": summarise(all_changes) | {"evaluations": run.evaluations},
        "groups": group(all_changes),
        "changes": [c.to_json() for c in sorted(all_changes, key=_order)],
        "duration_s": round(time.perf_counter() - started, 3),
    }
    report["id"] = hashlib.sha256(canonical_json(report)).hexdigest()
    if progress:
        progress(run.total, run.total, "done")
    return report


def _order(c: Change) -> tuple[Any, ...]:
    return (c.source, c.tenant, c.model, c.target, c.at_ns, c.decision_id or "")


def approval_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """What an approval records about the report the approver saw: its hash and counts."""
    s = report["summary"]
    return {
        "report_id": report["id"],
        "base_version_id": report.get("base_version_id"),
        "changed": s["changed"],
        "gained": s["gained"],
        "lost": s["lost"],
        "reasons_changed": s["reasons_changed"],
        "tenants_affected": s["tenants_affected"],
        "evaluations": s["evaluations"],
    }
