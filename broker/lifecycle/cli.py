"""``tollgate policy …``: the lifecycle from a terminal, talking to a running broker over HTTP.

Every command needs ``--url``/``TOLLGATE_URL`` and ``--token``/``TOLLGATE_TOKEN``; the broker
does all checks (roles, maker-checker, validation), so the CLI stays a thin client. Errors print
the broker's code and message and exit 1.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from broker.cli.http import refused
from broker.lifecycle.files import read_directory, read_git

app = typer.Typer(
    name="policy", help="Policy versions: push, review, approve, activate, roll back.", no_args_is_help=True
)

Url = Annotated[str, typer.Option("--url", envvar="TOLLGATE_URL", help="broker base URL")]
Token = Annotated[str, typer.Option("--token", envvar="TOLLGATE_TOKEN", help="bearer token")]
DEFAULT_URL = "http://127.0.0.1:8750"


def _make_client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120.0)


def _call(url: str, token: str, method: str, path: str, body: Any = None, **params: Any) -> Any:
    with _make_client(url, token) as client:
        resp = client.request(method, f"/v1/policies{path}", json=body, params=params or None)
    if resp.status_code >= 400:
        raise refused(resp)
    if resp.headers.get("content-type", "").startswith("text/"):
        return resp.text
    return resp.json()


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True))


@app.command()
def push(
    directory: Annotated[Path, typer.Argument(help="policy directory (or a git work tree with --git)")],
    *,
    message: Annotated[str, typer.Option("--message", "-m")] = "",
    git: Annotated[bool, typer.Option("--git", help="import the committed files of --rev, record the commit")] = False,
    rev: Annotated[str, typer.Option(help="git revision with --git")] = "HEAD",
    subdir: Annotated[str, typer.Option(help="folder inside the git repository with --git")] = "",
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Upload a policy set as a new draft version; prints its id and validation result."""
    if git:
        pset, src = read_git(directory, rev=rev, subdir=subdir)
        source: dict[str, Any] = {
            "kind": "git",
            "repository": src.repository,
            "commit": src.commit,
            "subdir": src.subdir,
        }
        if src.dirty:
            typer.echo(f"note: uncommitted changes were not imported (commit {src.commit[:12]})", err=True)
        message = message or f"import of git commit {src.commit[:12]}"
    else:
        pset, ignored = read_directory(directory)
        source = {"kind": "directory", "path": str(directory.resolve())}
        if ignored:
            typer.echo(f"ignored (not policy files): {', '.join(ignored)}", err=True)
    out = _call(url, token, "POST", "", {"files": dict(pset.files), "message": message or "push", "source": source})
    version = out["version"]
    state = "created" if out["created"] else f"already exists ({version['state']})"
    typer.echo(f"{version['id']} {state}; validation {'passed' if version['validation_ok'] else 'FAILED'}")
    if not version["validation_ok"]:
        _print(version.get("validation"))


@app.command()
def pull(
    version: str,
    out: Annotated[Path, typer.Option("--out", help="directory to write the files into")],
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Write a version's files into a directory."""
    files = _call(url, token, "GET", f"/{version}/files")
    for rel, text in files["files"].items():
        target = (out / rel).resolve()
        if out.resolve() not in target.parents:
            raise typer.BadParameter(f"refusing to write outside {out}: {rel}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {len(files['files'])} files of {files['version_id']} to {out}")


@app.command()
def diff(a: str, b: str, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Unified diff of two versions."""
    out = _call(url, token, "GET", f"/{a}/diff/{b}")
    for f in out["files"]:
        typer.echo(f["diff"], nl=False)


@app.command()
def log(
    version: Annotated[str | None, typer.Argument()] = None,
    limit: int = 50,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Versions (newest first) with their state, or one version's events."""
    if version:
        for e in _call(url, token, "GET", "/log", version=version, limit=limit)["events"]:
            typer.echo(f"{e['at']} {e['action']:<12} {e['actor']:<20} {json.dumps(e['details'], sort_keys=True)[:200]}")
        return
    out = _call(url, token, "GET", "", limit=limit)
    for v in out["versions"]:
        mark = "*" if v["id"] == out["active"] else " "
        typer.echo(f"{mark} {v['id'][:12]} {v['state']:<10} {v['created_at']} {v['author']:<16} {v['message'][:60]}")


@app.command()
def show(version: str, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """One version with its validation report."""
    _print(_call(url, token, "GET", f"/{version}"))


@app.command()
def propose(version: str, comment: str = "", url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Propose a draft (validation is re-run and must pass)."""
    v = _call(url, token, "POST", f"/{version}/propose", {"comment": comment})
    typer.echo(f"{v['id']} {v['state']}")


@app.command()
def approve(
    version: str,
    impact: Annotated[str, typer.Option("--impact", help="id of the impact report you reviewed")],
    comment: str = "",
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Approve a proposed version (not your own)."""
    v = _call(url, token, "POST", f"/{version}/approve", {"impact_report_id": impact, "comment": comment})
    typer.echo(f"{v['id']} {v['state']}")


@app.command()
def reject(version: str, reason: str = "", url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Reject a proposed version."""
    v = _call(url, token, "POST", f"/{version}/reject", {"reason": reason})
    typer.echo(f"{v['id']} {v['state']}")


@app.command()
def withdraw(version: str, reason: str = "", url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Withdraw a draft, proposed or approved version."""
    v = _call(url, token, "POST", f"/{version}/withdraw", {"reason": reason})
    typer.echo(f"{v['id']} {v['state']}")


@app.command()
def activate(
    version: str,
    at: Annotated[
        str | None, typer.Option("--at", help="ISO 8601 instant with zone, e.g. 2026-07-01T00:00:00Z")
    ] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Activate an approved version now, or schedule it with --at."""
    out = _call(url, token, "POST", f"/{version}/activate", {"at": at})
    if "scheduled" in out:
        s = out["scheduled"]
        typer.echo(f"{s['version_id']} scheduled for {s['effective_at']} (schedule {s['id']})")
    else:
        typer.echo(f"{out['activated']['id']} active")


@app.command()
def rollback(reason: str = "", url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Re-activate the previously active version."""
    v = _call(url, token, "POST", "/rollback", {"reason": reason})
    typer.echo(f"{v['id']} active (rolled back)")


@app.command()
def impact(
    version: str,
    *,
    format: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="write the report here (default stdout)")] = None,
    replay_days: int = 7,
    horizon_days: int = 365,
    matrix: Annotated[str, typer.Option("--matrix", help="full (default) or deployed")] = "full",
    poll_s: float = 0.5,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Run an impact analysis against the active version, showing progress; print or save the report."""
    if format not in ("json", "csv"):
        raise typer.BadParameter("--format must be json or csv")
    if matrix not in ("deployed", "full"):
        raise typer.BadParameter("--matrix must be deployed or full")
    body = {"replay_days": replay_days, "horizon_days": horizon_days, "matrix": matrix}
    job = _call(url, token, "POST", f"/{version}/impact", body)
    while job["status"] in ("queued", "running"):
        p = job["progress"]
        typer.echo(
            f"\r{p['phase'] or job['status']}: {p['done']}/{p['total']} ({p['percent']:.0f}%)", nl=False, err=True
        )
        time.sleep(poll_s)
        job = _call(url, token, "GET", f"/{version}/impact/{job['id']}")
    typer.echo("", err=True)
    if job["status"] != "done":
        typer.echo(f"impact analysis failed: {json.dumps(job['error'])}", err=True)
        raise typer.Exit(1)
    report = _call(url, token, "GET", f"/impact-reports/{job['report_id']}", format=format)
    text = report if format == "csv" else json.dumps(report["report"], indent=2, sort_keys=True)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        out.write_text(text, encoding="utf-8")
    s = job["summary"]
    typer.echo(
        f"report {job['report_id']}: {s['changed']} changed ({s['gained']} gained, {s['lost']} lost, "
        f"{s['reasons_changed']} reasons only), {s['tenants_affected']} tenants",
        err=True,
    )


@app.command("shadow")
def shadow(
    action: Annotated[str, typer.Argument(help="start VERSION | stop | status")],
    version: Annotated[str | None, typer.Argument()] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Shadow mode: run an approved version beside the active one and see disagreements."""
    if action == "start":
        if not version:
            raise typer.BadParameter("shadow start needs a VERSION")
        _print(_call(url, token, "POST", f"/{version}/shadow"))
    elif action == "stop":
        _print(_call(url, token, "DELETE", "/shadow"))
    elif action == "status":
        _print(_call(url, token, "GET", "/shadow"))
    else:
        raise typer.BadParameter("action must be start, stop or status")
