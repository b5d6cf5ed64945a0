"""Impact analysis over the whole matrix: the shipped catalog (with demo data) plus 1,000 tenants.

    python benchmarks/impact.py [--tenants 1000] [--workers N] [--matrix full|deployed] [--ungrouped]
                                [--no-relevance] [--compare]

The candidate is the shipped pack with one realistic rule change: data residency
``eu_member_states`` also accepts the EFTA states of the EEA (CH, IS, LI, NO). The matrix is
every tenant x (target, model) pair at now and at each upcoming ``valid_until_ns`` edge of either
version (horizon 365 days), one subject (none); ``--matrix full`` (the default, as in the broker)
covers every region and routing scope x every model, ``--matrix deployed`` only the pairs where
the model is deployed.

Prints wall time, evaluations, tenant / target / (target, model) classes, pairs, decisions
covered, changes found and what the relevance stage did (changed rules, fields read, projected
classes, flagged combinations, stage 1 / stage 2 evaluations). ``--no-relevance`` runs the exact
matrix on every class (the path before the relevance stage); ``--compare`` runs both and checks
that the changes are identical. Without relevance and with target grouping disabled the run is
only estimated (from the grouped run's evaluations and seconds per evaluation) unless
``--ungrouped`` is given.

Issue target: well under 60 s. Without the relevance stage the cost is tenant classes x (target,
model) classes: the 1,011 tenants here have ~750 distinct fact combinations (the generator draws
every fact at random), so ``full`` (5,016 pair classes) is about 3.9 million evaluations -- 4.5
to 7 minutes on this 2-core machine. The residency change reads the tenant's residency and the
member regions' countries and EU/EFTA membership (plus the model's provider, which the decision
looks up), so stage 1 is 18 tenant x 714 pair classes (~15,000 evaluations), and stage 2
re-evaluates the ~67,000 class combinations it flagged: ~20 s in all, most of it stage 2, whose
decisions (EU-residency tenants on scopes with many member regions) cost ~3x the average.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

from preflight_setup import synthetic_registry

from broker.lifecycle.impact import ImpactRequest, analyze
from broker.lifecycle.sources import StaticRegistrySource
from broker.policy.pack import read_pack

RESIDENCY = "tollgate/routing/residency.rego"
EU_ONLY = "not m.jurisdiction.eu_member.value == true"
EEA_RULE = """
# EU member states and the EFTA states of the EEA.
eea_member(j) if j.eu_member.value == true

eea_member(j) if j.efta.value == true
"""


def candidate_modules(base: dict[str, str]) -> dict[str, str]:
    """The shipped pack with the one rule change (see the module docstring)."""
    text = base[RESIDENCY]
    assert EU_ONLY in text, "the shipped residency rule changed: update the benchmark's edit"
    return base | {RESIDENCY: text.replace(EU_ONLY, "not eea_member(m.jurisdiction)") + EEA_RULE}


class Progress:
    """A one-line progress indicator on stderr, redrawn at most every half second."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, done: int, total: int, phase: str) -> None:
        now = time.perf_counter()
        if now - self.last >= 0.5 or phase == "done":
            self.last = now
            pct = 100 * done / total if total else 100.0
            print(f"\r{phase}: {done:,}/{total:,} ({pct:.0f}%)   ", end="", file=sys.stderr, flush=True)
        if phase == "done":
            print(file=sys.stderr)


def run(source: StaticRegistrySource, req: ImpactRequest, workers: int | None) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    report = analyze(req, source, workers=workers, progress=Progress())
    return time.perf_counter() - started, report


def show(label: str, seconds: float, report: dict[str, Any]) -> None:
    m = report["matrix"]
    t = m["target_classes"]
    s = report["summary"]
    print(f"{label}: {seconds:.1f} s wall")
    print(f"  evaluations       {s['evaluations']:,} (each on both versions)")
    print(f"  tenants           {m['tenants']:,} in {m['classes']:,} classes (verified: {m['verified']})")
    print(f"  targets           {t['targets']} in {t['classes']} classes (verified: {t['verified']})")
    print(f"  pairs             {m['pairs']:,} (target, model) in {t['pair_classes']:,} classes")
    print(f"  spot checks       {m['spot_checks']} tenant, {t['spot_checks']} target")
    print(f"  instants          {m['evaluated_instants']:,} evaluated")
    print(f"  decisions covered {m['decisions_covered']:,}")
    print(
        f"  changes found     {s['changed']:,} (gained {s['gained']:,}, lost {s['lost']:,}, "
        f"reasons {s['reasons_changed']:,}; {s['tenants_affected']} tenants, {s['models_affected']} models)"
    )
    print(f"  µs per evaluation {seconds / max(1, s['evaluations']) * 1e6:.0f} (wall, all workers)")
    r = m["relevance"]
    if not r["used"]:
        print(f"  relevance         not used: {r.get('reason')}")
        return
    print(f"  changed rules     {', '.join(r['changed_rules'])}")
    print(f"  fields read       {', '.join(r['fields'])} (whole: {', '.join(r['whole_fields'])})")
    print(f"  projected classes {r['tenant_classes']:,} tenant x {r['pair_classes']:,} (target, model), "
          f"{r['flagged']:,} flagged (spot checks {r['spot_checks']}, verified: {r['verified']})")
    print(f"  stage 1 / stage 2 {r['evaluations']:,} / {m['evaluated_instants']:,} evaluations")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=None, help="default: broker default (CPU count, at most 8)")
    ap.add_argument("--ungrouped", action="store_true", help="also run with target grouping off (slow)")
    ap.add_argument("--matrix", choices=("deployed", "full"), default="full")
    ap.add_argument("--no-relevance", action="store_true", help="exact matrix on every class (slow for full)")
    ap.add_argument("--compare", action="store_true", help="also run without relevance and compare the changes")
    args = ap.parse_args()

    reg = synthetic_registry(args.tenants)
    source = StaticRegistrySource({1: reg})
    source.data_document()  # compile once, outside the timings (the broker caches it per revision)
    base = dict(read_pack().policies)
    now = datetime.now(UTC).replace(microsecond=0)
    print(f"catalog + {args.tenants:,} synthetic tenants ({len(reg.tenants):,} tenants), now {now.isoformat()}")

    req = ImpactRequest("eea-residency", candidate_modules(base), "shipped", base, now=now, matrix=args.matrix,
                        relevance=not args.no_relevance)
    seconds, report = run(source, req, args.workers)
    show(f"grouped ({args.matrix}{', no relevance' if args.no_relevance else ''})", seconds, report)
    if args.compare:
        req.relevance = not req.relevance
        seconds_other, other = run(source, req, args.workers)
        show(f"grouped ({args.matrix}{', no relevance' if not req.relevance else ''})", seconds_other, other)
        print(f"  same changes: {other['changes'] == report['changes']} ({len(report['changes']):,} changes)")
        req.relevance = not req.relevance

    m = report["matrix"]
    ratio = m["pairs"] / m["target_classes"]["pair_classes"]
    if args.ungrouped:
        req.target_classes = False
        seconds_off, report_off = run(source, req, args.workers)
        show("target grouping off", seconds_off, report_off)
        same = report_off["changes"] == report["changes"]
        print(f"  same changes as grouped: {same}")
    elif not m["relevance"]["used"]:
        # Every evaluation of a (target, model) representative becomes one per member.
        estimate = report["summary"]["evaluations"] * ratio
        print(
            f"target grouping off (estimated): ~{estimate:,.0f} evaluations, "
            f"~{estimate * seconds / report['summary']['evaluations'] / 60:.0f} min at the same rate"
        )

if __name__ == "__main__":
    main()
