"""``tollgate registry validate|import|export|history|diff`` against the configured database.

Every failure prints what is wrong (for files: the file, the path inside it and the line) and
exits 1 without changing anything.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from broker.errors import TollgateError
from broker.registry.service import RegistryService
from broker.storage import create_store
from registry.canonical import registry_hash
from registry.errors import RegistryError
from registry.io import load_dir, load_files
from registry.model import Registry

app = typer.Typer(help="Validate, import, export and inspect the registry.", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="TOLLGATE_DATABASE_URL",
                 help="SQLAlchemy URL (default: sqlite:///<data-dir>/tollgate.db)"),
]
DataDir = Annotated[Path, typer.Option("--data-dir", envvar="TOLLGATE_DATA_DIR", help="holds tollgate.db")]


def database_url(url: str | None, data_dir: Path) -> str:
    return url or f"sqlite:///{(data_dir / 'tollgate.db').resolve()}"


def _fail(lines: list[str]) -> typer.Exit:
    for line in lines:
        typer.echo(line, err=True)
    return typer.Exit(1)


def _problem_lines(details: Any) -> list[str]:
    if not isinstance(details, list):
        return []
    out = []
    for d in details:
        if isinstance(d, dict) and "message" in d:
            where = d.get("file") or f"{d.get('kind', '')} {d.get('id', '')!r}"
            line = f":{d['line']}" if d.get("line") else ""
            path = d.get("file_path") or d.get("path") or ""
            out.append(f"  - {where}{line}: {path + ': ' if path else ''}{d['message']}")
    return out


@contextmanager
def _errors_exit() -> Iterator[None]:
    """Turn domain and broker errors into readable output and exit status 1."""
    try:
        yield
    except RegistryError as exc:
        raise _fail([f"error: {len(exc.problems)} problem(s); nothing was changed",
                     *(f"  - {p}" for p in exc.problems)]) from None
    except TollgateError as exc:
        raise _fail([f"error: {exc.message}", *_problem_lines(exc.details)]) from None


def _load(path: Path) -> Registry:
    if not path.exists():
        raise _fail([f"error: {path} does not exist"])
    return load_dir(path) if path.is_dir() else load_files([path])


@contextmanager
def _service(url: str | None, data_dir: Path) -> Iterator[RegistryService]:
    store = create_store(database_url(url, data_dir))
    try:
        yield RegistryService(store)
    finally:
        store.close()


@app.command()
def validate(path: Annotated[Path, typer.Argument(help="a YAML file or a directory of them")]) -> None:
    """Check registry files (schema and references) without touching the database."""
    with _errors_exit():
        reg = _load(path)
    typer.echo(f"ok: {path} is valid ({registry_hash(reg)})")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="a YAML file or a directory of them")],
    message: Annotated[str | None, typer.Option("--message", "-m", help="why (recorded in history)")] = None,
    author: Annotated[str | None, typer.Option(help="recorded as the revision's author")] = None,
    database_url_: DatabaseUrl = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Make the files the whole registry, as one new revision (all or nothing)."""
    with _errors_exit():
        reg = _load(path)
        with _service(database_url_, data_dir) as svc:
            who = author or f"cli:{os.environ.get('USER') or getpass.getuser()}"
            info = svc.import_registry(reg, who, message or f"import {path}")
    if info is None:
        typer.echo("no change: the registry already has exactly this content")
    else:
        typer.echo(f"revision {info.number} {info.hash} ({dict(info.changes)})")


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="directory to write the YAML files to")],
    revision: Annotated[int | None, typer.Option(help="revision to export (default: head)")] = None,
    database_url_: DatabaseUrl = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Write a revision as YAML files (re-importing them reproduces it exactly)."""
    with _errors_exit(), _service(database_url_, data_dir) as svc:
        paths = svc.export(out, revision)
    typer.echo(f"wrote {len(paths)} files to {out}")


@app.command()
def history(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    database_url_: DatabaseUrl = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """List revisions, newest first."""
    with _errors_exit(), _service(database_url_, data_dir) as svc:
        page = svc.history(offset, limit)
    for r in page.items:
        typer.echo(f"{r.number:>6}  {r.created_at:%Y-%m-%dT%H:%M:%SZ}  {r.author:<16}  {r.hash[:19]}  {r.message}")
    typer.echo(f"({len(page.items)} of {page.total} revisions)")


@app.command()
def diff(
    rev_a: Annotated[int, typer.Argument(min=0)],
    rev_b: Annotated[int, typer.Argument(min=0)],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    database_url_: DatabaseUrl = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Show what changed from REV_A to REV_B."""
    with _errors_exit(), _service(database_url_, data_dir) as svc:
        for n in (rev_a, rev_b):
            if n:
                svc.revision(n)
        result = svc.diff(rev_a, rev_b)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
        return
    for kind, d in result.kinds.items():
        for key in d.added:
            typer.echo(f"+ {kind} {key}")
        for key in d.removed:
            typer.echo(f"- {kind} {key}")
        for change in d.changed:
            typer.echo(f"~ {kind} {change.id}")
            for f in change.changes:
                typer.echo(f"    {f.path}: {json.dumps(f.old)} -> {json.dumps(f.new)}")
    if result.empty:
        typer.echo("no differences")
