"""Impact analysis: which decisions a candidate policy version changes against the active one.

Two sources of decisions, both evaluated on the base and the candidate with the *same* data:

* **matrix** -- every tenant x deployed (target, model) pair of the registry, at ``now`` and then
  at each upcoming instant where either version says its answer could change by itself (the
  decision's ``valid_until_ns``: release-window openings, letter effective dates, ...), up to a
  horizon. Pairs where a model has no deployment are left out: there the answer is
  MODEL_NOT_DEPLOYED whatever the policy, and they would multiply the work by the catalog size.
* **replay** -- the exact inputs of logged decisions of the last N days, each with the registry
  revision it was decided against (styra-style log replay).

Tenants whose facts are identical (apart from id and name) decide identically unless a policy or
the registry names them, so the matrix evaluates one representative per such class and copies
the answer to the others. That is verified, not assumed: a seeded sample of other members is
evaluated too and any difference switches classes off for the run (``tenant_classes.verified``).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from broker.lifecycle.evaluation import Outcome, PairRunner, compact, default_workers
from broker.lifecycle.files import canonical_json
from broker.lifecycle.protocols import DecisionHistory, RegistrySource
from broker.lifecycle.sources import is_engine_input

Progress = Callable[[int, int, str], None]
_NS = 1_000_000_000
SPOT_CHECKS = 200


def ns_iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // _NS, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Change:
    source: str  # "matrix" | "replay"
    tenant: str
    target: str
    model: str
    at_ns: int
    base: Outcome
    candidate: Outcome
    subject: Any = None
    decision_id: str | None = None
    weight: int = 1  # replay: how many logged decisions had this exact input

    @property
    def kind(self) -> str:
        b, c = self.base[0], self.candidate[0]
        if b is not True and c is True:
            return "gain"
        if b is True and c is not True:
            return "lose"
        return "reasons" if self.base[1] != self.candidate[1] else "obligations"

    def codes_added(self) -> list[str]:
        return sorted(set(self.candidate[1]) - set(self.base[1]))

    def codes_removed(self) -> list[str]:
        return sorted(set(self.base[1]) - set(self.candidate[1]))

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "change": self.kind,
            "tenant": self.tenant,
            "target": self.target,
            "model": self.model,
            "at": ns_iso(self.at_ns),
            "at_ns": self.at_ns,
            "subject": self.subject,
            "base_allow": self.base[0],
            "candidate_allow": self.candidate[0],
            "base_codes": list(self.base[1]),
            "candidate_codes": list(self.candidate[1]),
            "codes_added": self.codes_added(),
            "codes_removed": self.codes_removed(),
            "base_obligations": list(self.base[2]),
            "candidate_obligations": list(self.candidate[2]),
            "decision_id": self.decision_id,
            "count": self.weight,
        }


def differs(base: Outcome, cand: Outcome) -> bool:
    """Allow, reason codes or obligation codes differ (message wording and valid_until do not count)."""
    return base[:3] != cand[:3]


# --- the matrix ---------------------------------------------------------------------------------


def deployed_pairs(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(target, model) for every deployment of every model, sorted."""
    models = doc["tollgate"]["registry"].get("models", {})
    return sorted((target, mid) for mid, m in models.items() for target in m.get("deployments", {}))


def tenant_classes(doc: Mapping[str, Any], texts: Iterable[str]) -> dict[str, list[str]]:
    """Representative tenant -> members (itself included) with identical decision-relevant facts.

    A tenant named anywhere besides its own record (a model's trusted partners, a policy module,
    policy data) stays in a class of its own.
    """
    reg = doc["tollgate"]["registry"]
    named: set[str] = set()
    for m in reg.get("models", {}).values():
        named.update(m.get("trusted_partners", {}))
    corpus = "\n".join(texts)
    classes: dict[str, list[str]] = {}
    for tid in sorted(reg.get("tenants", {})):
        facts = {k: v for k, v in reg["tenants"][tid].items() if k not in ("id", "name", "source")}
        if tid in named or tid in corpus:
            facts["__id"] = tid
        classes.setdefault(hashlib.sha256(canonical_json(facts)).hexdigest(), []).append(tid)
    return {members[0]: members for members in classes.values()}


@dataclass
class _Run:
    runner: PairRunner
    progress: Progress | None
    total: int = 0
    done: int = 0
    evaluations: int = 0
    phase: str = "matrix"

    def evaluate(self, inputs: Sequence[dict[str, Any]]) -> list[tuple[Outcome, Outcome]]:
        base_done = self.done

        def tick(n: int) -> None:
            self.done = base_done + n
            if self.progress:
                self.progress(self.done, self.total, self.phase)

        out = self.runner.run(inputs, tick)
        self.done = base_done + len(inputs)
        self.evaluations += len(inputs)
        return out


def _inputs(items: Sequence[tuple[str, str, str, int, int]], subjects: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {"tenant": tn, "target": tg, "model": m, "subject": subjects[s], "now_ns": t} for tn, tg, m, t, s in items
    ]


def _matrix(
    run: _Run,
    *,
    doc: Mapping[str, Any],
    texts: list[str],
    now_ns: int,
    horizon_ns: int,
    subjects: Sequence[Any],
    use_classes: bool,
    seed: int,
) -> tuple[list[Change], dict[str, Any]]:
    tenants = sorted(doc["tollgate"]["registry"].get("tenants", {}))
    classes = tenant_classes(doc, texts) if use_classes else {t: [t] for t in tenants}
    pairs = deployed_pairs(doc)
    reps = sorted(classes)
    items = [(r, tg, m, now_ns, s) for r in reps for tg, m in pairs for s in range(len(subjects))]
    run.total = len(items)
    info: dict[str, Any] = {"tenants": len(tenants), "classes": len(classes), "pairs": len(pairs), "verified": True}

    # Spot check: other members of multi-member classes must decide exactly like their representative.
    rng = random.Random(seed)
    extra = [(r, m) for r, ms in classes.items() for m in ms[1:]]
    sample = rng.sample(extra, min(SPOT_CHECKS, len(extra))) if extra and pairs else []
    checks = [(m, *rng.choice(pairs), now_ns, rng.randrange(len(subjects))) for _, m in sample]
    check_reps = [(r, tg, md, t, s) for (r, _), (_, tg, md, t, s) in zip(sample, checks, strict=True)]
    run.total += 2 * len(checks)
    if checks:
        got = run.evaluate(_inputs(checks + check_reps, subjects))
        if got[: len(checks)] != got[len(checks) :]:
            # Some policy tells tenants apart by more than their facts: evaluate every tenant.
            info["verified"] = False
            classes = {t: [t] for t in tenants}
            reps = tenants
            items = [(r, tg, m, now_ns, s) for r in reps for tg, m in pairs for s in range(len(subjects))]
            run.total = run.done + len(items)
    info["spot_checks"] = len(checks)

    changes: list[Change] = []
    instants = 0
    covered = 0
    rounds = 0
    while items and rounds < 64:  # the round cap only guards against a policy whose valid_until never advances
        rounds += 1
        instants += len(items)
        results = run.evaluate(_inputs(items, subjects))
        follow: list[tuple[str, str, str, int, int]] = []
        for (rep, tg, m, t, s), (b, c) in zip(items, results, strict=True):
            covered += len(classes[rep])
            if differs(b, c):
                changes.extend(
                    Change("matrix", member, tg, m, t, b, c, subjects[s]) for member in classes[rep]
                )
            edges = [v for v in (b[3], c[3]) if v is not None and t < v <= horizon_ns]
            if edges:
                follow.append((rep, tg, m, min(edges), s))
        items = follow
        run.total = run.done + len(items)
    info["evaluated_instants"] = instants
    info["decisions_covered"] = covered  # (tenant, target, model, subject, instant) answers compared
    return changes, info


# --- replay -------------------------------------------------------------------------------------


def _replay(
    run: _Run,
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
    run = _Run(runner, progress)
    try:
        changes, matrix_info = _matrix(
            run,
            doc=doc,
            texts=texts,
            now_ns=now_ns,
            horizon_ns=horizon_ns,
            subjects=list(req.subjects),
            use_classes=req.tenant_classes,
            seed=seed,
        )
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
