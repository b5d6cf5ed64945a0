"""``tollgate engine``: the policy engines and our conformance check over them."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Policy engines: conformance of each over the Rego the pack uses.", no_args_is_help=True)


@app.command("conformance")
def conformance(
    engines: Annotated[list[str] | None, typer.Argument(help="engines to check (default: regorus regopy)")] = None,
) -> None:
    """Run the conformance cases on each engine and print a table; exit 1 if any case fails."""
    from broker.engine.conformance import run_conformance, table

    failed = False
    for name in engines or ["regorus", "regopy"]:
        try:
            results = run_conformance(name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="ENGINES") from None
        typer.echo(f"== {name}")
        typer.echo(table(results))
        failed = failed or any(r.status != "pass" for r in results)
    raise typer.Exit(1 if failed else 0)
