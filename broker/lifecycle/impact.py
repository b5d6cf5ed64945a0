"""Impact analysis: which decisions a candidate policy version changes against the active one.

Two sources of decisions, both evaluated on the base and the candidate with the *same* data:

* **matrix** -- every tenant x (target, model) pair, at ``now`` and then at each upcoming instant
  where either version says its answer could change by itself (the decision's
  ``valid_until_ns``: release-window openings, letter effective dates, ...), up to a horizon.
  Two scopes (``ImpactRequest.matrix``): ``deployed`` (default) covers every pair where the
  model is deployed, i.e. every decision a gateway can route on; ``full`` covers every target
  of the registry (each region and each routing scope) x every model, including pairs where the
  model is not deployed: what a candidate answers there is up to the candidate (it may drop or
  reword the deployment check). ``full`` costs tenant classes x (target, model) classes
  evaluations, which on the shipped catalog plus 1,000 randomly generated tenants is minutes,
  not seconds (benchmarks/impact.py); it runs as a job with progress like the default.
* **replay** -- the exact inputs of logged decisions of the last N days, each with the registry
  revision it was decided against (styra-style log replay).

A decision is compared by allow, reason codes and obligation codes (``differs``), never by message
text. So two tenants whose records are identical apart from what identifies them (id, name,
source) decide identically -- unless a policy tells them apart by what identifies them, and a
policy or the registry naming a tenant keeps it alone. The same holds for targets (identical
apart from ids, names, codes, cities and sources of the target and its member regions; a target
with any of those named by a policy stays alone), split per model by the model's deployment on
each target, since ``deployments`` is keyed by target id. The matrix evaluates one representative
per tenant class x (target, model) class and copies a change to every member of both classes.

That is verified, not assumed: before the matrix, a seeded sample of other members of both kinds
of class is evaluated against its representative (same pair for a tenant, same tenant for a
target), and any difference switches that grouping off for the run (``matrix.verified``,
``matrix.target_classes.verified``). A policy can break the grouping only by reading what
identifies a record without naming it (say, a prefix of region ids) or, for targets, by reading
what *other* models are deployed there (the split looks at the requested model only); the spot
check is there for those cases, and samples every member when there are fewer than
``SPOT_CHECKS``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, Literal

from broker.lifecycle.evaluation import Outcome, PairRunner, compact, default_workers
from broker.lifecycle.files import canonical_json
from broker.lifecycle.protocols import DecisionHistory, RegistrySource
from broker.lifecycle.sources import is_engine_input

Progress = Callable[[int, int, str], None]
# "deployed": every tenant x every (target, model) pair where the model is deployed -- the
# decisions a gateway can actually be asked for; "full": every tenant x target x model.
MatrixScope = Literal["deployed", "full"]
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

Item = tuple[str, str, str, int, int]  # tenant, target, model, now_ns, index into subjects
BLOCK = 65_536  # matrix items per round trip to the runner: bounds memory, keeps the pool busy

# Fields of a target record that only identify it or feed messages. ``members`` lists region ids
# (identity; their facts are in ``member_facts``) and ``unknown_members`` is the ids of the
# ``member_facts`` entries marked ``known: false``, so neither adds a fact.
_TARGET_IDENTITY = frozenset({"id", "name", "source", "members", "unknown_members"})
# The same inside a member region's facts: its id, its cloud-specific code, its display name,
# its city (a label below the country; no rule attaches meaning to it) and its source.
_REGION_IDENTITY = frozenset({"region", "code", "name", "city", "source"})


def _classes(keys: Mapping[str, bytes]) -> dict[str, list[str]]:
    """Representative (first in sorted order) -> members (itself included) of ids with equal keys."""
    by_key: dict[bytes, list[str]] = {}
    for ident in sorted(keys):
        by_key.setdefault(keys[ident], []).append(ident)
    return {members[0]: members for members in by_key.values()}


def _alone(ids: Iterable[str]) -> dict[str, list[str]]:
    return {i: [i] for i in sorted(ids)}


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
    keys: dict[str, bytes] = {}
    for tid, record in reg.get("tenants", {}).items():
        facts = {k: v for k, v in record.items() if k not in ("id", "name", "source")}
        if tid in named or tid in corpus:
            facts["__id"] = tid
        keys[tid] = canonical_json(facts)
    return _classes(keys)


def target_facts(record: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """A target's decision-relevant facts, and the identifying strings left out of them.

    Kept: kind, global, edges, and per member region whether it is known, its cloud, partition,
    country, restricted_access and resolved jurisdiction (so two targets only match when their
    member regions match one by one, in order). Party facts keep their group and window; their
    message and the ``party``/``source`` of their facts name the region, so those are left out.
    """
    dropped = {record.get("id"), record.get("name"), *record.get("members", [])}
    facts = {k: v for k, v in record.items() if k not in _TARGET_IDENTITY}
    members = []
    for m in record.get("member_facts", []):
        dropped.update(v for k, v in m.items() if k in _REGION_IDENTITY and k != "source")
        members.append({k: v for k, v in m.items() if k not in _REGION_IDENTITY})
    facts["member_facts"] = members
    facts["party_facts"] = [
        {k: v for k, v in f.items() if k != "message"}
        | {"facts": {k: v for k, v in f.get("facts", {}).items() if k not in ("party", "source")}}
        for f in record.get("party_facts", [])
    ]
    return facts, {s for s in dropped if isinstance(s, str) and s}


def target_classes(doc: Mapping[str, Any], texts: Iterable[str]) -> dict[str, list[str]]:
    """Representative target -> members (itself included) with identical decision-relevant facts.

    A target stays in a class of its own when a policy module or policy data names anything left
    out of its facts (its id or name, a member region's id, code, name or city): that text may be
    a rule about exactly that target.
    """
    corpus = "\n".join(texts)
    keys: dict[str, bytes] = {}
    for tid, record in doc["tollgate"]["registry"].get("targets", {}).items():
        facts, dropped = target_facts(record)
        if any(s in corpus for s in dropped):
            facts["__id"] = tid
        keys[tid] = canonical_json(facts)
    return _classes(keys)


def _deployment_facts(records: Sequence[Mapping[str, Any]] | None) -> Any:
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
                split.setdefault(canonical_json(_deployment_facts(deployments.get(tg))), []).append(tg)
            for group in split.values():
                out[(group[0], mid)] = group
    return out


def _in_scope(pairs: dict[tuple[str, str], list[str]], reg: Mapping[str, Any],
              scope: MatrixScope) -> dict[tuple[str, str], list[str]]:
    """``full``: every class. ``deployed``: the classes of (target, model) pairs where the model
    is deployed (a class is split by deployment, so its members are all deployed or none)."""
    if scope == "full":
        return pairs
    return {(tg, m): members for (tg, m), members in pairs.items()
            if tg in reg["models"][m].get("deployments", {})}


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


def _inputs(items: Sequence[Item], subjects: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"tenant": tn, "target": tg, "model": m, "subject": subjects[s], "now_ns": t} for tn, tg, m, t, s in items]


def _blocks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while block := list(islice(it, size)):
        yield block


Check = tuple[Item, Item]  # (a non-representative member's input, its representative's input)


def _tenant_checks(
    rng: random.Random,
    classes: Mapping[str, list[str]],
    *,
    pairs: Sequence[tuple[str, str]],
    deployed: Sequence[tuple[str, str]],
    now_ns: int,
    n_subjects: int,
) -> list[Check]:
    """Other members of tenant classes against their representative, on the same pair.

    Every other check is on a deployed pair, where most concerns decide the answer; the rest
    are on any pair of the matrix.
    """
    extra = [(rep, m) for rep, ms in classes.items() for m in ms[1:]]
    if not extra or not pairs:
        return []
    checks: list[Check] = []
    for i, (rep, member) in enumerate(rng.sample(extra, min(SPOT_CHECKS, len(extra)))):
        tg, model = rng.choice(deployed) if deployed and i % 2 == 0 else rng.choice(pairs)
        s = rng.randrange(n_subjects)
        checks.append(((member, tg, model, now_ns, s), (rep, tg, model, now_ns, s)))
    return checks


def _target_checks(
    rng: random.Random,
    pairs: Mapping[tuple[str, str], list[str]],
    *,
    tenants: Sequence[str],
    now_ns: int,
    n_subjects: int,
) -> list[Check]:
    """Other members of (target, model) classes against their representative, for a random tenant."""
    extra = [(rep, model, tg) for (rep, model), ms in pairs.items() for tg in ms[1:]]
    if not extra or not tenants:
        return []
    checks: list[Check] = []
    for rep, model, member in rng.sample(extra, min(SPOT_CHECKS, len(extra))):
        tenant = rng.choice(tenants)
        s = rng.randrange(n_subjects)
        checks.append(((tenant, member, model, now_ns, s), (tenant, rep, model, now_ns, s)))
    return checks


def _agree(run: _Run, groups: Sequence[Sequence[Check]], subjects: Sequence[Any]) -> list[bool]:
    """Per group of checks: did every member decide exactly like its representative?

    Exactly: allow, codes *and* valid_until, since the representative's valid_until also decides
    the instants at which its members are evaluated again.
    """
    flat = [c for g in groups for c in g]
    got = run.evaluate(_inputs([m for m, _ in flat] + [r for _, r in flat], subjects))
    same = [a == b for a, b in zip(got[: len(flat)], got[len(flat) :], strict=True)]
    out, start = [], 0
    for g in groups:
        out.append(all(same[start : start + len(g)]))
        start += len(g)
    return out


def _matrix(
    run: _Run,
    *,
    doc: Mapping[str, Any],
    texts: list[str],
    now_ns: int,
    horizon_ns: int,
    subjects: Sequence[Any],
    use_classes: bool,
    use_target_classes: bool,
    scope: MatrixScope,
    seed: int,
) -> tuple[list[Change], dict[str, Any]]:
    reg = doc["tollgate"]["registry"]
    tenants = sorted(reg.get("tenants", {}))
    targets = sorted(reg.get("targets", {}))
    models = sorted(reg.get("models", {}))
    n_subjects = len(subjects)
    t_classes = tenant_classes(doc, texts) if use_classes else _alone(tenants)
    g_classes = target_classes(doc, texts) if use_target_classes else _alone(targets)
    pairs = _in_scope(pair_classes(doc, g_classes), reg, scope)
    info: dict[str, Any] = {
        "scope": scope,
        "tenants": len(tenants),
        "classes": len(t_classes),
        "pairs": sum(len(m) for m in pairs.values()),  # (target, model) pairs covered
        "verified": True,
    }
    target_info: dict[str, Any] = {
        "targets": len(targets),
        "classes": len(g_classes),
        "pair_classes": len(pairs),
        "verified": True,
    }

    # Spot checks: members must decide exactly like their representative, or grouping is off.
    rng = random.Random(seed)
    deployed = [(tg, mid) for mid in models for tg in sorted(reg["models"][mid].get("deployments", {}))]
    all_pairs = [(tg, m) for tg in targets for m in models] if scope == "full" else deployed
    tenant_checks = _tenant_checks(
        rng, t_classes, pairs=all_pairs, deployed=deployed, now_ns=now_ns, n_subjects=n_subjects
    )
    target_checks = _target_checks(rng, pairs, tenants=tenants, now_ns=now_ns, n_subjects=n_subjects)
    n_checks = len(tenant_checks) + len(target_checks)
    run.phase = "spot checks"
    run.total = 2 * n_checks + len(t_classes) * len(pairs) * n_subjects
    if n_checks:
        tenants_ok, targets_ok = _agree(run, [tenant_checks, target_checks], subjects)
        if not tenants_ok:
            # Some policy tells tenants apart by more than their facts: evaluate every tenant.
            info["verified"] = False
            t_classes = _alone(tenants)
        if not targets_ok:
            # ... or targets (or what a model answers on them): evaluate every (target, model).
            target_info["verified"] = False
            pairs = _in_scope(pair_classes(doc, _alone(targets)), reg, scope)
    info["spot_checks"] = len(tenant_checks)
    target_info["spot_checks"] = len(target_checks)
    info["target_classes"] = target_info

    run.phase = "matrix"
    reps = sorted(t_classes)
    pair_reps = sorted(pairs)
    pending: Iterable[Item] = (
        (rep, tg, m, now_ns, s) for rep in reps for tg, m in pair_reps for s in range(n_subjects)
    )
    count = len(reps) * len(pair_reps) * n_subjects
    changes: list[Change] = []
    instants = 0
    covered = 0
    rounds = 0
    while count and rounds < 64:  # the round cap only guards against a policy whose valid_until never advances
        rounds += 1
        instants += count
        run.total = run.done + count
        follow: list[Item] = []
        for block in _blocks(pending, BLOCK):
            results = run.evaluate(_inputs(block, subjects))
            for (rep, tg, m, t, s), (b, c) in zip(block, results, strict=True):
                member_tenants, member_targets = t_classes[rep], pairs[(tg, m)]
                covered += len(member_tenants) * len(member_targets)
                if differs(b, c):
                    # The representative's change holds for every member of both classes.
                    changes.extend(
                        Change("matrix", tn, mt, m, t, b, c, subjects[s])
                        for tn in member_tenants
                        for mt in member_targets
                    )
                edges = [v for v in (b[3], c[3]) if v is not None and t < v <= horizon_ns]
                if edges:
                    follow.append((rep, tg, m, min(edges), s))
        pending, count = follow, len(follow)
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
    target_classes: bool = True
    matrix: MatrixScope = "deployed"


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
            use_target_classes=req.target_classes,
            scope=req.matrix,
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
