"""Export a range of the log as a self-contained, offline-verifiable directory or tarball.

Layout (a tlog-tiles tree, readable by e.g. Tessera's ``fsck`` with ``file://``)::

    checkpoint            latest signed checkpoint, verbatim (with witness cosignatures)
    tile/<L>/<N>[.p/<W>]  every hash tile of that tree
    tile/entries/<N>...   entry bundles overlapping [from, to)
    blobs/sha256/<hex>    payloads referenced by exported entries
    keys, log.vkey        signed key history and the log's verifier keys
    manifest.json         origin, size, entry range, and the SHA-256 of every other file

Every manifest field is checked by the verifier against the files (no free-form claims), so
changing any byte of any file, the manifest included, is detected.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any

from broker.audit.keys import KEY_HISTORY_PATH
from broker.audit.proofs import TileReader
from broker.audit.reader import LogReader
from broker.audit.records import blob_path
from broker.audit.storage.fs import FsLogStorage
from broker.audit.tiles import ENTRIES_LEVEL, TILE_WIDTH, decode_bundle, tile_path, tiles_for_size
from broker.errors import BadRequest

FORMAT = "tollgate-audit-export/v1"
MANIFEST = "manifest.json"
VKEY_FILE = "log.vkey"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def check_export_name(name: str) -> str:
    """A bare file name for an export (no separators, no traversal, no hidden files)."""
    if not _NAME_RE.match(name) or ".." in name:
        raise BadRequest(f"invalid export name {name!r}")
    return name


def export_log(reader: LogReader, out: Path, start: int = 0, end: int | None = None,
               ) -> dict[str, Any]:
    """Write the export of entries ``[start, end)`` into the empty or new directory ``out``.

    The tree is always the latest checkpoint's, so range exports stay verifiable against it.
    Returns the manifest.
    """
    note = reader.checkpoint_note()
    cp = reader.checkpoint()
    end = cp.size if end is None else end
    if not 0 <= start <= end <= cp.size:
        raise BadRequest(f"export range [{start}, {end}) is outside the log of size {cp.size}")
    if out.exists() and any(out.iterdir()):
        raise BadRequest(f"export directory {out} is not empty")
    dest = FsLogStorage(out, durable=False)  # a copy: the log itself stays the original
    tiles = TileReader(reader.storage, cp.size)
    dest.put("checkpoint", note)
    for level, index, width in tiles_for_size(cp.size):
        dest.put(tile_path(level, index, width), tiles.read(level, index))
    entries_from = start - start % TILE_WIDTH
    entries_to = min(cp.size, -(-end // TILE_WIDTH) * TILE_WIDTH) if end > start else entries_from
    blobs: set[str] = set()
    for bundle in range(entries_from // TILE_WIDTH, -(-entries_to // TILE_WIDTH)):
        data = tiles.read(ENTRIES_LEVEL, bundle)
        dest.put(tile_path(ENTRIES_LEVEL, bundle, tiles.width(ENTRIES_LEVEL, bundle)), data)
        if BLOBS_MARKER in data:  # cheap pre-check: most bundles reference no blobs
            for entry in decode_bundle(data):
                blobs.update(_blob_refs(entry))
    for digest in sorted(blobs):
        dest.put(blob_path(digest), reader.storage.get(blob_path(digest)))
    history, periods = reader.key_history()
    if history is not None:
        dest.put(KEY_HISTORY_PATH, history)
    dest.put(VKEY_FILE, "".join(f"{p.vkey}\n" for p in periods).encode())
    manifest = {
        "format": FORMAT, "origin": cp.origin, "tree_size": cp.size,
        "root": cp.root.hex(),
        "entries_from": entries_from, "entries_to": entries_to,
        "files": {p: hashlib.sha256(dest.get(p)).hexdigest() for p in sorted(dest.list())},
    }
    dest.put(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n")
    return manifest


BLOBS_MARKER = b'"blobs":['


def _blob_refs(entry: bytes) -> list[str]:
    """SHA-256 hex digests of the blobs an entry references (see ``records``)."""
    if BLOBS_MARKER not in entry:
        return []
    try:
        rec = json.loads(entry)
    except ValueError:
        return []
    if not isinstance(rec, dict) or not isinstance(rec.get("blobs"), list):
        return []
    refs = []
    for field in rec["blobs"]:
        ref = rec.get(field)
        if isinstance(ref, dict) and isinstance(ref.get("sha256"), str):
            refs.append(ref["sha256"])
    return refs


def export_tar(reader: LogReader, tar_path: Path, start: int = 0, end: int | None = None,
               ) -> dict[str, Any]:
    """Like :func:`export_log`, packed as a .tar.gz whose members sit under one directory."""
    top = check_export_name(tar_path.name.removesuffix(".tar.gz").removesuffix(".tgz"))
    with tempfile.TemporaryDirectory(prefix="audit-export-") as tmp:
        manifest = export_log(reader, Path(tmp) / top, start, end)
        partial = tar_path.with_name(f".{tar_path.name}.partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(Path(tmp) / top, arcname=top)
        os.replace(partial, tar_path)
    return manifest


# Limits on what an archive may unpack to: an auditor verifies exports it received from a
# server it does not trust, so a crafted archive must not fill its disk or memory. An export of
# 1,000,000 pre-flight records is ~4 GiB in ~8,000 files.
MAX_UNPACKED_BYTES = 64 * 2**30
MAX_MEMBERS = 1_000_000


def unpack_export(tar_path: Path, into: Path, *, max_bytes: int = MAX_UNPACKED_BYTES,
                  max_members: int = MAX_MEMBERS) -> Path:
    """Safely extract an export tarball (regular files and directories only, at most
    ``max_bytes`` in at most ``max_members`` members); return its root."""
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            members: list[tarfile.TarInfo] = []
            total = 0
            for m in tar:  # lazily: a huge member list is refused before it is all in memory
                parts = Path(m.name).parts
                if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
                    raise BadRequest(f"export archive has an unsafe member {m.name!r}")
                members.append(m)
                total += m.size if m.isfile() else 0
                if len(members) > max_members:
                    raise BadRequest(f"export archive has more than {max_members:,} members")
                if total > max_bytes:
                    raise BadRequest(f"export archive unpacks to more than {max_bytes:,} bytes "
                                     f"(member {m.name!r}); raise the limit if this is expected")
            tops = {Path(m.name).parts[0] for m in members}
            if len(tops) != 1:
                raise BadRequest("export archive must contain exactly one top-level directory")
            tar.extractall(into, members=members, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BadRequest(f"export archive is not a readable .tar.gz: {exc}") from exc
    root = into / tops.pop()
    if not root.is_dir():
        raise BadRequest("export archive has no top-level directory")
    return root


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
