"""``tollgate``: serve the broker, mint dev tokens, manage the registry, policies and audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from broker.audit.cli import app as audit_app
from broker.cli import engine, token
from broker.lifecycle.cli import app as lifecycle_app
from broker.policy.cli import app as policy_app
from broker.registry.cli import app as registry_app

app = typer.Typer(
    name="tollgate",
    help="Tollgate: compliance and geo-access policy broker for AI model routing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(token.app, name="token")
app.add_typer(registry_app, name="registry")
# One ``tollgate policy`` group: pack checks (test, check) and the lifecycle (push, propose, ...).
policy_app.registered_commands.extend(lifecycle_app.registered_commands)
policy_app.registered_groups.extend(lifecycle_app.registered_groups)
policy_app.info.help = "Policies: pack tests and differential checks; versions, approval, activation."
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(engine.app, name="engine")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (TOLLGATE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (TOLLGATE_PORT)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="keys, database, audit log (TOLLGATE_DATA_DIR)")] = None,
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="load the labelled demo tenants")] = False,
) -> None:
    """Start the broker (uvicorn) on its embedded defaults."""
    import uvicorn

    from broker.app import create_app
    from broker.cli.settings import settings_or_exit

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if demo:
        overrides["include_demo"] = True
    settings = settings_or_exit(**overrides)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's records go to the broker's JSON log handler (broker.logging)
        access_log=False,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
