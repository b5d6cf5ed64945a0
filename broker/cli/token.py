"""``tollgate token issue``: mint bearer tokens with the development key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from broker.cli.settings import settings_or_exit
from broker.security.keys import ensure_dev_token_key
from broker.security.principal import ROLES
from broker.security.tokens import issue_token

app = typer.Typer(help="Development bearer tokens (signed with the data dir's dev key).", no_args_is_help=True)


def parse_ttl(text: str) -> int:
    """``3600``, ``90s``, ``15m``, ``12h`` or ``7d`` -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    factor = units.get(text[-1:], 0)
    number = text[:-1] if factor else text
    if not number.isdigit() or int(number) <= 0:
        raise typer.BadParameter(f"{text!r} is not a duration like 3600, 15m, 12h or 7d")
    return int(number) * (factor or 1)


@app.command("issue")
def issue(
    role: Annotated[list[str], typer.Option("--role", "-r", help=f"one of {sorted(ROLES)}; repeatable")],
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", "-t", help="scope a gateway token to tenants; repeatable")
    ] = None,
    ttl: Annotated[str, typer.Option(help="lifetime: seconds or 15m / 12h / 7d")] = "1h",
    subject: Annotated[str, typer.Option("--subject", "-s", help="the 'sub' claim")] = "dev-user",
    data_dir: Annotated[Path | None, typer.Option(help="data directory holding keys/")] = None,
) -> None:
    """Print a signed JWT for the given roles."""
    bad = sorted(set(role) - ROLES)
    if bad:
        raise typer.BadParameter(f"unknown role(s) {bad}; choose from {sorted(ROLES)}", param_hint="--role")
    settings = settings_or_exit(data_dir=data_dir) if data_dir else settings_or_exit()
    key = ensure_dev_token_key(settings.keys_dir)
    token = issue_token(
        key,
        subject=subject,
        roles=role,
        tenants=tenant or None,
        ttl_s=parse_ttl(ttl),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    typer.echo(token)
