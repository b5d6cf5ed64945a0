"""``tollgate audit``: export, verify, prove and receipt, all working offline on files;
``rotate-key`` asks a running broker (it holds the log's writer and its key).

Exit codes: 0 verified / done, 1 verification failed (or the broker refused), 2 usage error.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from broker.audit.export import MAX_UNPACKED_BYTES, export_log, export_tar, unpack_export
from broker.audit.note import Ed25519Verifier, Verifier
from broker.audit.proofs import verify_receipt
from broker.audit.reader import LogReader
from broker.audit.verify import verify_export
from broker.audit.witness import CosignatureVerifier
from broker.errors import TollgateError

app = typer.Typer(help="Signed audit log: export, verify offline, prove, receipts.",
                  no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="audit log directory (default $TOLLGATE_AUDIT_DIR, else "
    "$TOLLGATE_DATA_DIR/audit, else data/audit)")]
Keys = Annotated[list[str], typer.Option(
    "--key", help="trusted log vkey (name+id+base64) or a file of vkeys; repeatable")]
Witnesses = Annotated[list[str], typer.Option(
    "--witness", help="witness cosignature vkey or file of vkeys; repeatable")]


def _usage(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _data_dir(value: Path | None) -> Path:
    if value is not None:
        return value
    if os.environ.get("TOLLGATE_AUDIT_DIR"):
        return Path(os.environ["TOLLGATE_AUDIT_DIR"])
    return Path(os.environ.get("TOLLGATE_DATA_DIR", "data")) / "audit"


DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", help="read a replicated log from this PostgreSQL database (default: "
    "$TOLLGATE_DATABASE_URL when it is PostgreSQL, no --data-dir is given and "
    "$TOLLGATE_AUDIT_BACKEND is not fs)")]


def _pg_url(data_dir: Path | None, database_url: str | None) -> str | None:
    """Where a replicated (PostgreSQL) log is, if that is what the command should read.

    Replicas publish tiles and checkpoints in PostgreSQL, not in a directory; the broker does
    the same choice in broker/replicas/wiring.py.
    """
    if database_url:
        return database_url
    url = os.environ.get("TOLLGATE_DATABASE_URL", "")
    if data_dir is None and url.startswith("postgresql") and os.environ.get("TOLLGATE_AUDIT_BACKEND", "auto") != "fs":
        return url
    return None


def _open(data_dir: Path | None, database_url: str | None = None) -> LogReader:
    try:
        url = _pg_url(data_dir, database_url)
        if url is not None:
            return _open_pg(url, data_dir)
        return LogReader.open(_data_dir(data_dir))
    except TollgateError as exc:
        raise _usage(exc.message) from exc


def _open_pg(url: str, data_dir: Path | None) -> LogReader:
    """Tiles and checkpoints from PostgreSQL; the search index (for --decision-id) is each
    replica's own, so it is read from ``data_dir`` when one is given."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    from broker.audit.index import SearchIndex
    from broker.audit.reader import INDEX_FILE
    from broker.audit.storage.pg_objects import PgLogStorage

    index = SearchIndex(data_dir / INDEX_FILE) if data_dir is not None and (data_dir / INDEX_FILE).is_file() else None
    try:
        reader = LogReader(PgLogStorage(create_engine(url, pool_pre_ping=True)), index)
        reader.checkpoint_note()  # fail here, with a clear message, if there is no log
    except SQLAlchemyError as exc:
        where = url.rsplit("@", maxsplit=1)[-1]  # never echo a password
        raise _usage(f"cannot read the audit log from {where}: {type(exc).__name__}") from exc
    return reader


def _vkeys(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        p = Path(v)
        out += p.read_text().split() if "+" not in v and p.is_file() else [v]
    return out


@app.command()
def export(out: Annotated[Path, typer.Option("--out", help="new directory, or *.tar.gz")],
           start: Annotated[int, typer.Option("--from", help="first leaf index")] = 0,
           end: Annotated[int | None, typer.Option("--to", help="end leaf (exclusive)")] = None,
           data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Write an offline-verifiable export of entries [from, to) with the latest checkpoint."""
    reader = _open(data_dir, database_url)
    try:
        if out.name.endswith((".tar.gz", ".tgz")):
            manifest = export_tar(reader, out, start, end)
        else:
            manifest = export_log(reader, out, start, end)
    except TollgateError as exc:
        raise _usage(exc.message) from exc
    typer.echo(f"exported {manifest['origin']} size {manifest['tree_size']} entries "
               f"[{manifest['entries_from']}, {manifest['entries_to']}) to {out}")


class _ProgressLine:
    """A single, self-overwriting stderr line; quiet unless the run is long."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.25 and done < total:
            return
        self.last = now
        pct = 100 * done // max(total, 1)
        bar = "#" * (pct // 4)
        sys.stderr.write(f"\rverifying [{bar:<25}] {done}/{total} leaves "
                         f"({now - self.start:.1f}s)")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


@app.command()
def verify(  # noqa: PLR0917 - Typer maps parameters to options
    export_path: Annotated[Path, typer.Argument(metavar="EXPORT", help="directory or .tar.gz")],
    trusted_checkpoint: Annotated[list[Path], typer.Option(
        "--trusted-checkpoint", help="checkpoint saved earlier; repeatable")] = [],  # noqa: B006
    key: Keys = [],  # noqa: B006
    witness: Witnesses = [],  # noqa: B006
    min_witnesses: Annotated[int, typer.Option(help="required witness cosignatures")] = 0,
    max_unpacked_gib: Annotated[float, typer.Option(
        help="refuse a .tar.gz that unpacks to more than this")] = MAX_UNPACKED_BYTES / 2**30,
) -> None:
    """Verify an export offline: signatures, every tile, the root, and consistency."""
    try:
        trusted = [(str(p), p.read_bytes()) for p in trusted_checkpoint]
        keys, witnesses = _vkeys(key), _vkeys(witness)
    except OSError as exc:
        raise _usage(str(exc)) from exc
    if min_witnesses > len(witnesses):
        raise _usage("--min-witnesses is larger than the number of --witness keys")
    if not export_path.exists():
        raise _usage(f"{export_path} does not exist")
    with tempfile.TemporaryDirectory(prefix="audit-verify-") as tmp:
        root = export_path
        if export_path.is_file():
            try:
                root = unpack_export(export_path, Path(tmp), max_bytes=int(max_unpacked_gib * 2**30))
            except (TollgateError, OSError, EOFError) as exc:
                typer.echo(f"FAILED at archive: {exc}")
                raise typer.Exit(1) from exc
        result = verify_export(root, keys=keys, trusted_checkpoints=trusted,
                               witness_keys=witnesses, min_witnesses=min_witnesses,
                               progress=_ProgressLine())
    typer.echo(result.verdict())
    raise typer.Exit(0 if result.ok else 1)


def _index(reader: LogReader, index: int | None, decision_id: str | None) -> int:
    if (index is None) == (decision_id is None):
        raise _usage("give exactly one of --index or --decision-id")
    try:
        return index if index is not None else reader.find_decision(str(decision_id))
    except TollgateError as exc:
        raise _usage(exc.message) from exc


@app.command()
def prove(  # noqa: PLR0917 - Typer maps parameters to options
          index: Annotated[int | None, typer.Option(help="leaf index")] = None,
          decision_id: Annotated[str | None, typer.Option(help="decision id")] = None,
          size: Annotated[int | None, typer.Option(help="tree size (default latest)")] = None,
          consistency_from: Annotated[int | None, typer.Option(
              help="print a consistency proof from this size instead")] = None,
          data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Print an inclusion proof (or a consistency proof) as JSON, hashes in base64."""
    import base64

    reader = _open(data_dir, database_url)
    try:
        if consistency_from is not None:
            out = reader.consistency_proof(consistency_from, size)
        else:
            out = reader.inclusion_proof(_index(reader, index, decision_id), size)
    except TollgateError as exc:
        raise _usage(exc.message) from exc
    out["proof"] = [base64.b64encode(h).decode() for h in out["proof"]]
    typer.echo(json.dumps(out, indent=1))


@app.command()
def receipt(index: Annotated[int | None, typer.Option(help="leaf index")] = None,
            decision_id: Annotated[str | None, typer.Option(help="decision id")] = None,
            out: Annotated[Path | None, typer.Option(help="write here, not stdout")] = None,
            data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Write a c2sp.org/tlog-proof receipt for one decision (the entry rides in 'extra')."""
    reader = _open(data_dir, database_url)
    try:
        data = reader.receipt(_index(reader, index, decision_id))
    except TollgateError as exc:
        raise _usage(exc.message) from exc
    if out is None:
        sys.stdout.write(data.decode())
    else:
        out.write_bytes(data)


@app.command("verify-receipt")
def verify_receipt_cmd(
    path: Annotated[Path, typer.Argument(metavar="RECEIPT")],
    key: Keys = [],  # noqa: B006
    witness: Witnesses = [],  # noqa: B006
    min_witnesses: Annotated[int, typer.Option(help="required witness cosignatures")] = 0,
) -> None:
    """Check a receipt offline against the log key (and a witness quorum)."""
    try:
        logs: list[Verifier] = [Ed25519Verifier.from_vkey(k) for k in _vkeys(key)]
        wits: list[Verifier] = [CosignatureVerifier.from_vkey(k) for k in _vkeys(witness)]
        data = path.read_bytes()
    except (TollgateError, OSError) as exc:
        raise _usage(getattr(exc, "message", str(exc))) from exc
    if not logs:
        raise _usage("--key is required")
    try:
        r, cp, entry = verify_receipt(data, logs, witness_verifiers=wits,
                                      min_witnesses=min_witnesses)
    except TollgateError as exc:
        typer.echo(f"FAILED: {exc.message}")
        raise typer.Exit(1) from exc
    typer.echo(f"VERIFIED: leaf {r.index} is in {cp.origin} at size {cp.size}")
    typer.echo(entry.decode(errors="replace"))


@app.command("rotate-key")
def rotate_key_cmd(
    url: Annotated[str, typer.Option("--url", envvar="TOLLGATE_URL", help="broker base URL")]
    = "http://127.0.0.1:8750",
    token: Annotated[str, typer.Option("--token", envvar="TOLLGATE_TOKEN", help="admin bearer token")] = "",
    overlap_s: Annotated[float, typer.Option(help="seconds the old key keeps co-signing")] = 86400.0,
) -> None:
    """Rotate the running broker's log signing key; prints the new vkey and the key history."""
    import httpx

    from broker.cli.http import refused

    if not token:
        raise _usage("--token (or TOLLGATE_TOKEN) is required: rotation needs the admin role")
    try:
        resp = httpx.post(f"{url.rstrip('/')}/v1/audit/keys/rotate", json={"overlap_s": overlap_s},
                          headers={"Authorization": f"Bearer {token}"}, timeout=60.0)
    except httpx.HTTPError as exc:
        raise _usage(f"cannot reach the broker at {url}: {exc}") from exc
    if resp.status_code != 200:
        raise refused(resp)
    typer.echo(json.dumps(resp.json(), indent=2))
