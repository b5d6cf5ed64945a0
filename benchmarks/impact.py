"""Impact analysis over the whole matrix: the shipped catalog (with demo data) plus 1,000 tenants.

    python benchmarks/impact.py [--tenants 1000] [--workers N] [--matrix deployed|full] [--ungrouped]

The candidate is the shipped pack with one realistic rule change: data residency
``eu_member_states`` also accepts the EFTA states of the EEA (CH, IS, LI, NO). The matrix is
every tenant x (target, model) pair at now and at each upcoming ``valid_until_ns`` edge of either
version (horizon 365 days), one subject (none); ``--matrix deployed`` (the default, as in the
broker) covers the pairs where the model is deployed, ``--matrix full`` every region and routing
scope x every model.

Prints wall time, evaluations, tenant / target / (target, model) classes, pairs, decisions
covered and changes found. With target grouping disabled the run is only estimated (from the
grouped run's evaluations and seconds per evaluation) unless ``--ungrouped`` is given.

Issue target: well under 60 s. The cost is tenant classes x (target, model) classes: the 1,011
tenants here have ~750 distinct fact combinations (the generator draws every fact at random),
so ``full`` (5,016 pair classes) is about 3.9 million evaluations -- tens of minutes on this
2-core machine -- while ``deployed`` is seconds. Figures: see the closing note of the issue.
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=None, help="default: broker default (CPU count, at most 8)")
    ap.add_argument("--ungrouped", action="store_true", help="also run with target grouping off (slow)")
    ap.add_argument("--matrix", choices=("deployed", "full"), default="deployed")
    args = ap.parse_args()

    reg = synthetic_registry(args.tenants)
    source = StaticRegistrySource({1: reg})
    source.data_document()  # compile once, outside the timings (the broker caches it per revision)
    base = dict(read_pack().policies)
    now = datetime.now(UTC).replace(microsecond=0)
    print(f"catalog + {args.tenants:,} synthetic tenants ({len(reg.tenants):,} tenants), now {now.isoformat()}")

    req = ImpactRequest("eea-residency", candidate_modules(base), "shipped", base, now=now, matrix=args.matrix)
    seconds, report = run(source, req, args.workers)
    show(f"grouped ({args.matrix})", seconds, report)

    m = report["matrix"]
    ratio = m["pairs"] / m["target_classes"]["pair_classes"]
    if args.ungrouped:
        req.target_classes = False
        seconds_off, report_off = run(source, req, args.workers)
        show("target grouping off", seconds_off, report_off)
        same = report_off["changes"] == report["changes"]
        print(f"  same changes as grouped: {same}")
    else:
        # Every evaluation of a (target, model) representative becomes one per member.
        estimate = report["summary"]["evaluations"] * ratio
        print(
            f"target grouping off (estimated): ~{estimate:,.0f} evaluations, "
            f"~{estimate * seconds / report['summary']['evaluations'] / 60:.0f} min at the same rate"
        )


if __name__ == "__main__":
    main()
