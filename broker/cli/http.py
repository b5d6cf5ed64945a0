"""What the thin HTTP clients of the CLI share: how a broker's refusal is shown."""

from __future__ import annotations

import json

import httpx
import typer


def refused(resp: httpx.Response) -> typer.Exit:
    """Print the broker's error (code, message, details) to stderr; the caller raises the Exit(1)."""
    try:
        err = resp.json()["error"]
        typer.echo(f"error {resp.status_code} {err['code']}: {err['message']}", err=True)
        if err.get("details") is not None:
            typer.echo(json.dumps(err["details"], indent=2)[:20_000], err=True)
    except (ValueError, KeyError, TypeError):
        typer.echo(f"error {resp.status_code}: {resp.text[:2000]}", err=True)
    return typer.Exit(1)
