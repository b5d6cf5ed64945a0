"""``tollgate policy ...``: run the pack's Rego unit tests and the cross-engine differential check.

Mounted by the main CLI as ``app.add_typer(policy_app, name="policy")``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from broker.engine.factory import DEFAULT_ENGINE, create_engine
from broker.engine.interface import PolicyBundle
from broker.errors import TollgateError
from broker.policy.datadoc import compile_data_document, datetime_ns
from broker.policy.differential import DifferentialReport, run_differential
from broker.policy.matrix import DecisionMatrix
from broker.policy.pack import read_pack

app = typer.Typer(help="The default Rego policy pack: unit tests and differential checks.", no_args_is_help=True)


def _now_ns() -> int:
    return time.time_ns()


def _parse_at(at: str | None) -> int:
    if at is None:
        return _now_ns()
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return datetime_ns(moment)


@app.command("test")
def test_cmd(
    directory: Annotated[Path | None, typer.Argument(help="pack directory (default: the shipped rego/)")] = None,
    engine: Annotated[str, typer.Option(help="regorus | regopy | opa")] = DEFAULT_ENGINE,
    filter: Annotated[str | None, typer.Option("--filter", "-f", help="regex on data.<pkg>.<test>")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list passing tests too")] = False,
) -> None:
    """Run every ``test_*`` rule of the pack (like ``opa test``) and print coverage per file."""
    try:
        pack = read_pack(directory)
        eng = create_engine(engine)
        eng.load(PolicyBundle(pack.all_modules, {}, pack.revision, 0))
        report = eng.run_tests(filter)
    except (TollgateError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for r in report.results:
        if verbose or r.outcome != "pass":
            typer.echo(f"{r.outcome.upper():5} {r.path}  ({r.file}) {r.message}".rstrip())
    typer.echo(
        f"{report.engine}: {report.count('pass')} passed, {report.count('fail')} failed, "
        f"{report.count('error')} errors ({len(report.results)} tests)"
    )
    if report.coverage is None:
        typer.echo(f"coverage: not reported by {report.engine}")
    else:
        for name in sorted(report.coverage):
            if name in pack.policies:  # coverage of the serving modules is what matters
                cov = report.coverage[name]
                typer.echo(f"coverage {cov.percent:5.1f}%  {name}  (not covered: {list(cov.not_covered)})")
    raise typer.Exit(0 if report.ok else 1)


def _print_report(report: DifferentialReport, limit: int) -> None:
    for kind, items in (("DISAGREEMENT", report.disagreements), ("ERROR", report.errors)):
        for d in items[:limit]:
            typer.echo(f"{kind} input={json.dumps(d.input, sort_keys=True)}")
            for engine, out in d.outputs.items():
                typer.echo(f"  {engine}: {json.dumps(out, sort_keys=True)}")
        if len(items) > limit:
            typer.echo(f"... and {len(items) - limit} more {kind.lower()}s")
    typer.echo(report.summary())


@app.command("check")
def check_cmd(  # noqa: PLR0917 - one parameter per CLI option
    engines: Annotated[str, typer.Option(help="comma-separated engines to compare")] = "regorus,regopy",
    sample: Annotated[int | None, typer.Option(help="evaluate a seeded sample of N inputs")] = None,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    include_demo: Annotated[bool, typer.Option("--include-demo/--no-demo", help="add the demo tenants")] = True,
    all_regions: Annotated[bool, typer.Option(help="every region, not only those with deployments")] = False,
    at: Annotated[str | None, typer.Option(help="'now' for the matrix (ISO 8601; default the clock)")] = None,
    directory: Annotated[Path | None, typer.Option(help="pack directory (default: shipped)")] = None,
    show: Annotated[int, typer.Option(help="print at most this many disagreements")] = 50,
) -> None:
    """Evaluate the registry's decision matrix on several engines; exit 1 on any disagreement."""
    from registry.io import load_shipped

    names = [e.strip() for e in engines.split(",") if e.strip()]
    reg = load_shipped(include_demo=include_demo)
    matrix = DecisionMatrix.of(reg, _parse_at(at), targets="all" if all_regions else "deployed")
    inputs = matrix.sample(sample, seed) if sample is not None else list(matrix)
    typer.echo(f"matrix: {matrix.describe()}; evaluating {len(inputs):,}", err=True)
    step = max(1, len(inputs) // 20)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            sys.stderr.write(f"\r{done:,}/{total:,} ({100 * done // total}%)")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    try:
        report = run_differential(
            names, read_pack(directory).policies, compile_data_document(reg), inputs, progress=progress
        )
    except (TollgateError, ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _print_report(report, show)
    raise typer.Exit(0 if report.ok else 1)
