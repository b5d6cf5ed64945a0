"""Stage 1 of the impact matrix: which combinations a change can touch, found on projected classes.

Tenants and (target, model) pairs are grouped by their projection onto the fields the change can
read (relevance/, projection.py). One representative per projected tenant class x projected
pair class x subject is followed like the matrix follows an item (now, then each upcoming
valid_until of either version, up to the horizon) and the combination is *flagged* at the first
instant where base and candidate differ in allow or in any reason or obligation item (code,
message and facts: comparing items, not codes, keeps an unchanged concern giving the same code
from hiding the changed one). A chain cut by the round cap is flagged too.

Why that is enough: the changed rules read only projected facts (and what identifies a record,
for messages), so every member of a projected class gets the changed part of its decision like
its representative, at every instant; and between two instants of the representative's chain its
whole decision stands still (valid_until), so a difference at any instant shows at one of them.
Stage 2 (matrix.py) then runs the exact matrix on the full classes whose projected combination
is flagged.

That is verified, not assumed: a seeded sample of other members of projected classes (half on
combinations flagged for their class, at the flagged instant; half on random ones, at now) must be
flagged exactly when their representative is, or the projection is dropped for the run.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from broker.lifecycle.impact.classes import MatrixScope
from broker.lifecycle.impact.evaluation import Detailed
from broker.lifecycle.impact.matrix import SPOT_CHECKS, Grid, Item, Run, follow, inputs
from broker.lifecycle.impact.projection import Projection
from broker.lifecycle.impact.relevance import Relevance

Combo = tuple[bytes, bytes, int]  # projected tenant key, projected pair key, subject


@dataclass
class Screen:
    projection: Projection
    flagged: dict[Combo, int] = field(default_factory=dict)  # -> first instant found
    covered: int = 0  # answers covered by combinations not flagged
    info: dict[str, Any] = field(default_factory=dict)

    def select(self, grid: Grid) -> dict[str, list[tuple[tuple[str, str], int]]]:
        """Full tenant representative -> [(pair class, subject)] whose projection is flagged.

        A full class normally lies inside one projected class; a class whose members project
        differently is selected when any of them is flagged.
        """
        p = self.projection
        by_tenant: dict[bytes, set[str]] = {}
        for rep, members in grid.tenants.items():
            for tn in members:
                by_tenant.setdefault(p.tenant[tn], set()).add(rep)
        by_pair: dict[bytes, set[tuple[str, str]]] = {}
        for (tg, m), targets in grid.pairs.items():
            for member in targets:
                by_pair.setdefault(p.pair(member, m), set()).add((tg, m))
        out: dict[str, set[tuple[tuple[str, str], int]]] = {}
        for tkey, pkey, s in self.flagged:
            for rep in by_tenant.get(tkey, ()):
                out.setdefault(rep, set()).update((pair, s) for pair in by_pair.get(pkey, ()))
        return {rep: sorted(v) for rep, v in out.items()}


def screen(
    run: Run,
    *,
    doc: Mapping[str, Any],
    texts: list[str],
    relevance: Relevance,
    scope: MatrixScope,
    now_ns: int,
    horizon_ns: int,
    subjects: Sequence[Any],
    seed: int,
    budget: int,
) -> Screen:
    """Stage 1 and its verification; ``info["used"]`` says whether stage 2 may rely on it.

    Stage 1 is skipped when it would evaluate more than ``budget`` combinations (per subject):
    a change that can read nearly every fact (say, to how `decide` combines the concerns)
    leaves the projected classes about as many as the full ones, and stage 1 would only add work.
    """
    run.phase = "relevance"
    started = run.evaluations
    p = Projection(doc, relevance.fields, texts)
    reg = doc["tollgate"]["registry"]
    models = reg.get("models", {})
    pairs = [
        (tg, m) for tg in sorted(reg.get("targets", {})) for m in sorted(models)
        if scope == "full" or tg in models[m].get("deployments", {})
    ]
    tenants, pair_classes = p.tenant_classes(), p.pair_classes(pairs)
    out = Screen(p)
    out.info = {
        "used": False,
        "changed_rules": list(relevance.changed),
        "fields": sorted(relevance.fields.names()),
        "whole_fields": sorted(relevance.fields.whole),
        "tenant_classes": len(tenants),
        "pair_classes": len(pair_classes),
    }
    if len(tenants) * len(pair_classes) > budget:
        out.info["reason"] = f"projection would not pay: {len(tenants) * len(pair_classes):,} combinations"
        return out
    seen: dict[Combo, int] = {}

    def visit(item: Item, result: Detailed) -> bool:
        tn, tg, m, t, s = item
        combo = (p.tenant[tn], p.pair(tg, m), s)
        if not result[2]:
            out.flagged.setdefault(combo, t)
            return False
        seen[combo] = seen.get(combo, 0) + len(tenants[tn]) * len(pair_classes[(tg, m)])
        return True

    items = [(tn, tg, m, now_ns, s) for tn in sorted(tenants) for tg, m in sorted(pair_classes)
             for s in range(len(subjects))]
    cut = follow(run, items, len(items), subjects=subjects, horizon_ns=horizon_ns, visit=visit, detailed=True)
    for tn, tg, m, t, s in cut:  # the round cap left these unexplored: stage 2 decides them
        out.flagged.setdefault((p.tenant[tn], p.pair(tg, m), s), t)
    out.covered = sum(n for combo, n in seen.items() if combo not in out.flagged)
    checks = _checks(random.Random(f"relevance-{seed}"), tenants, pair_classes, out.flagged, p,
                     now_ns=now_ns, n_subjects=len(subjects))
    verified = True
    if checks:
        got = run.evaluate_detailed(inputs([c for pair in checks for c in pair], subjects))
        verified = all(got[i][2] == got[i + 1][2] for i in range(0, len(got), 2))
    out.info |= {
        "used": verified,
        "flagged": len(out.flagged),
        "cut_by_round_cap": len(cut),
        "spot_checks": len(checks),
        "verified": verified,
        "evaluations": run.evaluations - started,
    }
    if not verified:
        out.info["reason"] = "spot check: a member of a projected class decided unlike its representative"
    return out


def _checks(
    rng: random.Random,
    tenants: Mapping[str, list[str]],
    pairs: Mapping[tuple[str, str], list[tuple[str, str]]],
    flagged: Mapping[Combo, int],
    p: Projection,
    *,
    now_ns: int,
    n_subjects: int,
) -> list[tuple[Item, Item]]:
    """(member, representative) inputs: other members of projected tenant and pair classes."""
    by_tenant: dict[bytes, list[tuple[bytes, int, int]]] = {}
    by_pair: dict[bytes, list[tuple[bytes, int, int]]] = {}
    for (tkey, pkey, s), t in sorted(flagged.items()):
        by_tenant.setdefault(tkey, []).append((pkey, s, t))
        by_pair.setdefault(pkey, []).append((tkey, s, t))
    tenant_rep = {p.tenant[rep]: rep for rep in tenants}
    pair_rep = {p.pair(*rep): rep for rep in pairs}
    reps, pair_reps = sorted(tenants), sorted(pairs)
    checks: list[tuple[Item, Item]] = []
    extra = [(rep, tn) for rep, ms in sorted(tenants.items()) for tn in ms[1:]] if pair_reps else []
    for i, (rep, tn) in enumerate(rng.sample(extra, min(SPOT_CHECKS, len(extra)))):
        hits = by_tenant.get(p.tenant[rep], [])
        if hits and i % 2 == 0:
            pkey, s, t = rng.choice(hits)
            tg, m = pair_rep[pkey]
        else:
            (tg, m), s, t = rng.choice(pair_reps), rng.randrange(n_subjects), now_ns
        checks.append(((tn, tg, m, t, s), (rep, tg, m, t, s)))
    extra_pairs = [(prep, member) for prep, ms in sorted(pairs.items()) for member in ms[1:]] if reps else []
    for i, (prep, (tg, m)) in enumerate(rng.sample(extra_pairs, min(SPOT_CHECKS, len(extra_pairs)))):
        hits = by_pair.get(p.pair(*prep), [])
        if hits and i % 2 == 0:
            tkey, s, t = rng.choice(hits)
            tenant = tenant_rep[tkey]
        else:
            tenant, s, t = rng.choice(reps), rng.randrange(n_subjects), now_ns
        checks.append(((tenant, tg, m, t, s), (tenant, prep[0], prep[1], t, s)))
    return checks
