"""Settings for a command, or a one-paragraph error and exit status 2 (no traceback)."""

from __future__ import annotations

from typing import Any

import typer

from broker.config import ConfigError, Settings, load_settings


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.echo(f"tollgate: {exc}", err=True)
        raise typer.Exit(2) from None
