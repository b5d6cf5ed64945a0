"""The impact matrix: tenant x (target, model) x subject, followed over time, with classes.

Every item is evaluated on both versions at ``now`` and then at each upcoming instant where either
version says its answer could change by itself (the decision's ``valid_until_ns``), up to a
horizon. One representative per tenant class x (target, model) class is evaluated (classes.py)
and a change is copied to every member of both classes -- after a seeded spot check of other
members against their representative (:func:`spot_checked_classes`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar

from broker.lifecycle.impact.classes import MatrixScope, alone, in_scope, pair_classes, target_classes, tenant_classes
from broker.lifecycle.impact.evaluation import Detailed, Outcome, PairRunner

Progress = Callable[[int, int, str], None]
T = TypeVar("T")
_NS = 1_000_000_000
SPOT_CHECKS = 200
ROUNDS = 64  # a chain's cap: only guards against a policy whose valid_until never advances
Item = tuple[str, str, str, int, int]  # tenant, target, model, now_ns, index into subjects
BLOCK = 65_536  # matrix items per round trip to the runner: bounds memory, keeps the pool busy


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


@dataclass
class Run:
    """The runner of one report, with its progress (done never passes total) and evaluation count."""

    runner: PairRunner
    progress: Progress | None
    total: int = 0
    done: int = 0
    evaluations: int = 0
    phase: str = "matrix"

    def evaluate(self, inputs: Sequence[dict[str, Any]]) -> list[tuple[Outcome, Outcome]]:
        return self._count(inputs, lambda tick: self.runner.run(inputs, tick))

    def evaluate_detailed(self, inputs: Sequence[dict[str, Any]]) -> list[Detailed]:
        return self._count(inputs, lambda tick: self.runner.run_detailed(inputs, tick))

    def _count(self, inputs: Sequence[dict[str, Any]], call: Callable[[Callable[[int], None]], list[T]]) -> list[T]:
        base_done = self.done
        self.total = max(self.total, base_done + len(inputs))

        def tick(n: int) -> None:
            self.done = base_done + n
            if self.progress:
                self.progress(self.done, self.total, self.phase)

        out = call(tick)
        self.done = base_done + len(inputs)
        self.evaluations += len(inputs)
        return out


def inputs(items: Sequence[Item], subjects: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"tenant": tn, "target": tg, "model": m, "subject": subjects[s], "now_ns": t} for tn, tg, m, t, s in items]


def blocks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while block := list(islice(it, size)):
        yield block


Check = tuple[Item, Item]  # (a non-representative member's input, its representative's input)


def tenant_checks(
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


def target_checks(
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


def agree(run: Run, groups: Sequence[Sequence[Check]], subjects: Sequence[Any]) -> list[bool]:
    """Per group of checks: did every member decide exactly like its representative?

    Exactly: allow, codes *and* valid_until, since the representative's valid_until also decides
    the instants at which its members are evaluated again.
    """
    flat = [c for g in groups for c in g]
    got = run.evaluate(inputs([m for m, _ in flat] + [r for _, r in flat], subjects))
    same = [a == b for a, b in zip(got[: len(flat)], got[len(flat) :], strict=True)]
    out, start = [], 0
    for g in groups:
        out.append(all(same[start : start + len(g)]))
        start += len(g)
    return out



def follow(
    run: Run,
    items: Iterable[Item],
    count: int,
    *,
    subjects: Sequence[Any],
    horizon_ns: int,
    visit: Callable[[Item, Detailed], bool],
    detailed: bool = False,
) -> list[Item]:
    """Evaluate ``items`` (``count`` of them), then each again at the next instant either version
    names (the earlier valid_until_ns), up to the horizon and at most ``ROUNDS`` times.

    ``visit(item, result)`` sees every result; False ends that item's chain. Returns the items
    still pending when the round cap stopped them.
    """
    pending, rounds = items, 0
    while count and rounds < ROUNDS:
        rounds += 1
        run.total = run.done + count
        nxt: list[Item] = []
        for block in blocks(pending, BLOCK):
            batch = inputs(block, subjects)
            results = run.evaluate_detailed(batch) if detailed else [(b, c, False) for b, c in run.evaluate(batch)]
            for item, result in zip(block, results, strict=True):
                if not visit(item, result):
                    continue
                tn, tg, m, t, s = item
                edges = [v for v in (result[0][3], result[1][3]) if v is not None and t < v <= horizon_ns]
                if edges:
                    nxt.append((tn, tg, m, min(edges), s))
        pending, count = nxt, len(nxt)
    return list(pending) if count else []


@dataclass
class Grid:
    """The classes the matrix evaluates (after the spot checks) and what the report says of them."""

    tenants: dict[str, list[str]]  # representative -> members
    pairs: dict[tuple[str, str], list[str]]  # (representative target, model) -> member targets
    info: dict[str, Any]


def spot_checked_classes(
    run: Run,
    *,
    doc: Mapping[str, Any],
    texts: list[str],
    now_ns: int,
    subjects: Sequence[Any],
    use_classes: bool,
    use_target_classes: bool,
    scope: MatrixScope,
    seed: int,
) -> Grid:
    """Tenant and (target, model) classes, each grouping switched off if its spot check fails."""
    reg = doc["tollgate"]["registry"]
    tenants = sorted(reg.get("tenants", {}))
    targets = sorted(reg.get("targets", {}))
    models = sorted(reg.get("models", {}))
    n_subjects = len(subjects)
    t_classes = tenant_classes(doc, texts) if use_classes else alone(tenants)
    g_classes = target_classes(doc, texts) if use_target_classes else alone(targets)
    pairs = in_scope(pair_classes(doc, g_classes), reg, scope)
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
    t_checks = tenant_checks(rng, t_classes, pairs=all_pairs, deployed=deployed, now_ns=now_ns, n_subjects=n_subjects)
    g_checks = target_checks(rng, pairs, tenants=tenants, now_ns=now_ns, n_subjects=n_subjects)
    n_checks = len(t_checks) + len(g_checks)
    run.phase = "spot checks"
    run.total = run.done + 2 * n_checks + len(t_classes) * len(pairs) * n_subjects
    if n_checks:
        tenants_ok, targets_ok = agree(run, [t_checks, g_checks], subjects)
        if not tenants_ok:
            # Some policy tells tenants apart by more than their facts: evaluate every tenant.
            info["verified"] = False
            t_classes = alone(tenants)
        if not targets_ok:
            # ... or targets (or what a model answers on them): evaluate every (target, model).
            target_info["verified"] = False
            pairs = in_scope(pair_classes(doc, alone(targets)), reg, scope)
    info["spot_checks"] = len(t_checks)
    target_info["spot_checks"] = len(g_checks)
    info["target_classes"] = target_info
    return Grid(t_classes, pairs, info)


def matrix(
    run: Run,
    grid: Grid,
    *,
    now_ns: int,
    horizon_ns: int,
    subjects: Sequence[Any],
    selected: Mapping[str, Sequence[tuple[tuple[str, str], int]]] | None = None,
) -> tuple[list[Change], int, int]:
    """Changes over every tenant representative x pair class x subject -- or, given ``selected``
    (representative -> [(pair, subject)]), over those only -- with the instants evaluated and the
    (tenant, target, model, subject, instant) answers covered."""
    run.phase = "matrix"
    reps = sorted(grid.tenants)
    pair_reps = sorted(grid.pairs)
    n_subjects = len(subjects)
    items: Iterable[Item]
    if selected is None:
        items = ((rep, tg, m, now_ns, s) for rep in reps for tg, m in pair_reps for s in range(n_subjects))
        count = len(reps) * len(pair_reps) * n_subjects
    else:  # the same order as above, so that changes come out in the same order
        items = ((rep, tg, m, now_ns, s) for rep in reps for (tg, m), s in sorted(selected.get(rep, ())))
        count = sum(len(v) for v in selected.values())
    changes: list[Change] = []
    instants = covered = 0

    def visit(item: Item, result: Detailed) -> bool:
        nonlocal instants, covered
        rep, tg, m, t, s = item
        b, c, _ = result
        member_tenants, member_targets = grid.tenants[rep], grid.pairs[(tg, m)]
        instants += 1
        covered += len(member_tenants) * len(member_targets)
        if differs(b, c):
            # The representative's change holds for every member of both classes.
            changes.extend(
                Change("matrix", tn, mt, m, t, b, c, subjects[s]) for tn in member_tenants for mt in member_targets
            )
        return True

    follow(run, items, count, subjects=subjects, horizon_ns=horizon_ns, visit=visit)
    return changes, instants, covered
