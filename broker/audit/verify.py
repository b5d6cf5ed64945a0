"""Offline verifier for an export: needs only the files, a log key and saved checkpoints.

Checks run in order and stop at the first failure, which is reported precisely:
manifest and file hashes; checkpoint signature (and witness quorum); key history; every
entry re-hashed into its level-0 tile, every tile re-hashed into the level above, and the
root recomputed; then consistency with every checkpoint the auditor trusted earlier, which is
what catches rewritten history and a truncated tail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.audit import merkle
from broker.audit.checkpoint import Checkpoint, parse_checkpoint
from broker.audit.export import FORMAT, MANIFEST, VKEY_FILE, _blob_refs
from broker.audit.keys import KEY_HISTORY_PATH, parse_key_history
from broker.audit.note import Ed25519Verifier, open_note
from broker.audit.proofs import TileReader
from broker.audit.records import blob_path
from broker.audit.storage.base import check_object_path
from broker.audit.storage.fs import FsLogStorage
from broker.audit.tiles import (
    ENTRIES_LEVEL,
    TILE_WIDTH,
    decode_bundle,
    root_from_levels,
    tile_path,
    tiles_for_size,
)
from broker.audit.witness import CosignatureVerifier, require_cosignatures
from broker.errors import TollgateError

Progress = Callable[[int, int], None]


class _Fail(Exception):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage, self.message = stage, message


@dataclass
class VerifyResult:
    """Outcome of :func:`verify_export`; ``failure`` names the first failed check."""

    ok: bool = False
    stage: str | None = None
    failure: str | None = None
    checks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checkpoint: Checkpoint | None = None

    def verdict(self) -> str:
        lines = [f"  ok  {c}" for c in self.checks] + [f"  !!  {w}" for w in self.warnings]
        head = "VERIFIED" if self.ok else f"FAILED at {self.stage}: {self.failure}"
        return "\n".join([head, *lines])


def verify_export(path: Path, *, keys: Sequence[str] = (),
                  trusted_checkpoints: Sequence[tuple[str, bytes]] = (),
                  witness_keys: Sequence[str] = (), min_witnesses: int = 0,
                  progress: Progress | None = None) -> VerifyResult:
    """Verify the export directory at ``path``; never raises for bad data, only reports."""
    result = VerifyResult()
    try:
        _verify(path, keys, trusted_checkpoints, witness_keys, min_witnesses,
                progress=progress, result=result)
        result.ok = True
    except _Fail as f:
        result.stage, result.failure = f.stage, f.message
    return result


def _verify(path: Path, keys: Sequence[str], trusted: Sequence[tuple[str, bytes]],
            witness_keys: Sequence[str], min_witnesses: int, *, progress: Progress | None,
            result: VerifyResult) -> None:
    store = FsLogStorage(path)
    manifest = _check_manifest(path, result)
    try:
        verifiers = [Ed25519Verifier.from_vkey(k) for k in keys]
        if not verifiers:
            exported = store.get(VKEY_FILE).decode().split()
            verifiers = [Ed25519Verifier.from_vkey(k) for k in exported]
            result.warnings.append("no --key given: using the export's own log.vkey, which "
                                   "proves integrity but not who signed")
        witnesses = [CosignatureVerifier.from_vkey(k) for k in witness_keys]
    except TollgateError as exc:
        raise _Fail("keys", exc.message) from exc
    cp = _check_checkpoint(store, manifest, verifiers, (witnesses, min_witnesses), result)
    _check_key_history(store, cp, verifiers, result)
    _rederive(store, manifest, cp, progress, result)
    for name, data in trusted:
        _check_trusted(store, cp, (name, data), verifiers, result)


def _check_manifest(path: Path, result: VerifyResult) -> dict[str, Any]:
    stage = "manifest"
    try:
        manifest = json.loads((path / MANIFEST).read_bytes())
    except FileNotFoundError as exc:
        raise _Fail(stage, f"{MANIFEST} is missing") from exc
    except ValueError as exc:
        raise _Fail(stage, f"{MANIFEST} is not valid JSON") from exc
    ints = ("tree_size", "entries_from", "entries_to")
    if (not isinstance(manifest, dict) or manifest.get("format") != FORMAT
            or set(manifest) != {"format", "origin", "root", "files", *ints}
            or not isinstance(manifest.get("files"), dict)
            or not all(isinstance(manifest.get(k), int) for k in ints)):
        raise _Fail(stage, f"{MANIFEST} is not a {FORMAT} manifest")
    files: dict[str, Any] = manifest["files"]
    present = set()
    for p in path.rglob("*"):
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            raise _Fail(stage, f"{p.relative_to(path)} is not a regular file")
        if p.is_file():
            present.add(p.relative_to(path).as_posix())
    present.discard(MANIFEST)
    for name in sorted(present - set(files)):
        raise _Fail(stage, f"file {name} is not listed in the manifest")
    for name, digest in sorted(files.items()):
        try:
            check_object_path(name)
        except ValueError as exc:
            raise _Fail(stage, f"manifest lists an unsafe path {name!r}") from exc
        if name not in present:
            raise _Fail(stage, f"file {name} listed in the manifest is missing")
        if hashlib.sha256((path / name).read_bytes()).hexdigest() != digest:
            raise _Fail(stage, f"file {name} does not match its SHA-256 in the manifest")
    result.checks.append(f"manifest: {len(files)} files present with matching SHA-256")
    return manifest


def _check_checkpoint(store: FsLogStorage, manifest: dict[str, Any],
                      verifiers: list[Ed25519Verifier],
                      policy: tuple[list[CosignatureVerifier], int], result: VerifyResult,
                      ) -> Checkpoint:
    stage = "checkpoint"
    witnesses, min_witnesses = policy
    try:
        note = store.get("checkpoint")
        text, good = open_note(note, verifiers)
        cp = parse_checkpoint(text)
        if min_witnesses:
            names = require_cosignatures(note, witnesses, min_witnesses)
            result.checks.append(f"witnesses: {len(names)} valid cosignatures ({', '.join(names)})")
    except TollgateError as exc:
        raise _Fail(stage, exc.message) from exc
    if (cp.origin, cp.size, cp.root.hex()) != (manifest.get("origin"), manifest["tree_size"],
                                                manifest.get("root")):
        raise _Fail(stage, "checkpoint origin, size or root differs from the manifest")
    result.checkpoint = cp
    signers = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in good)
    when = "no time line" if cp.timestamp is None else time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(cp.timestamp))
    result.checks.append(f"checkpoint: {cp.origin} size {cp.size} root "
                         f"{base64.b64encode(cp.root).decode()} signed at {when} by {signers}")
    return cp


def _check_key_history(store: FsLogStorage, cp: Checkpoint, verifiers: list[Ed25519Verifier],
                       result: VerifyResult) -> None:
    if not store.exists(KEY_HISTORY_PATH):
        result.warnings.append("export has no signed key history")
        return
    try:
        text, _ = open_note(store.get(KEY_HISTORY_PATH), verifiers)
        origin, periods = parse_key_history(text)
    except TollgateError as exc:
        raise _Fail("key history", exc.message) from exc
    if origin != cp.origin:
        raise _Fail("key history", f"is for origin {origin}, not {cp.origin}")
    known = {v.vkey for v in verifiers}
    ts = cp.timestamp
    for p in periods:
        if p.vkey in known and ts is not None and not p.valid_at(ts):
            result.warnings.append(f"key {p.vkey} signed at {ts}, outside its validity period")
    result.checks.append(f"key history: {len(periods)} key(s), signed by a trusted key")


def _rederive(store: FsLogStorage, manifest: dict[str, Any], cp: Checkpoint,
              progress: Progress | None, result: VerifyResult) -> None:
    size, stage = cp.size, "tiles"
    ef, et = manifest["entries_from"], manifest["entries_to"]
    if not (0 <= ef <= et <= size and ef % TILE_WIDTH == 0
            and (et % TILE_WIDTH == 0 or et == size)):
        raise _Fail(stage, "manifest entry range does not line up with entry bundles")
    expected = {"checkpoint", VKEY_FILE, KEY_HISTORY_PATH}
    expected.update(tile_path(lv, n, w) for lv, n, w in tiles_for_size(size))
    acc: list[list[bytes]] = [[] for _ in range(8)]
    done: list[int] = [0] * 8
    last: list[bytes] = []
    bundles = -(-size // TILE_WIDTH)

    def get(p: str) -> bytes:
        try:
            return store.get(p)
        except TollgateError as exc:
            raise _Fail(stage, f"{p} is missing") from exc

    def push(level: int, h: bytes) -> None:
        while True:
            acc[level].append(h)
            if len(acc[level]) < TILE_WIDTH:
                return
            p = tile_path(level, done[level])
            if get(p) != b"".join(acc[level]):
                raise _Fail(stage, f"tile {p} does not match the tiles below it")
            h, acc[level] = merkle.root_of(acc[level]), []
            done[level] += 1
            level += 1

    for n in range(bundles):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        tpath = tile_path(0, n, width)
        tile = get(tpath)
        if len(tile) != 32 * width:
            raise _Fail(stage, f"tile {tpath} has {len(tile)} bytes, expected {32 * width}")
        if ef <= n * TILE_WIDTH < et:
            epath = tile_path(ENTRIES_LEVEL, n, width)
            expected.add(epath)
            try:
                entries = decode_bundle(get(epath), expected=width)
            except TollgateError as exc:
                raise _Fail("entries", f"{epath}: {exc.message}") from exc
            leaves = [merkle.hash_leaf(e) for e in entries]
            if b"".join(leaves) != tile:
                bad = next(i for i, h in enumerate(leaves) if h != tile[32 * i : 32 * i + 32])
                raise _Fail("entries", f"entry {n * TILE_WIDTH + bad} does not match tile {tpath}"
                            " (entry altered, removed, inserted or reordered)")
            for e in entries:
                for digest in _blob_refs(e):
                    expected.add(blob_path(digest))
                    if hashlib.sha256(get(blob_path(digest))).hexdigest() != digest:
                        raise _Fail("blobs", f"blob {digest} does not match its hash")
        hashes = [tile[i : i + 32] for i in range(0, len(tile), 32)]
        if width == TILE_WIDTH:
            push(1, merkle.root_of(hashes))
        else:
            last = hashes
        if progress is not None:
            progress(min(size, (n + 1) * TILE_WIDTH), size)
    for level in range(1, len(acc)):
        if acc[level]:
            p = tile_path(level, done[level], len(acc[level]))
            if get(p) != b"".join(acc[level]):
                raise _Fail(stage, f"tile {p} does not match the tiles below it")
    if root_from_levels([last, *acc[1:]]) != cp.root:
        raise _Fail(stage, "tiles do not hash to the checkpoint root")
    extra = set(manifest["files"]) - expected
    if extra:
        raise _Fail("manifest", f"unexpected file {sorted(extra)[0]} in the export")
    result.checks.append(f"tree: {size} leaves re-hashed to the checkpoint root; entries "
                         f"[{ef}, {et}) re-derived from their bytes")


def _check_trusted(store: FsLogStorage, cp: Checkpoint, trusted: tuple[str, bytes],
                   verifiers: list[Ed25519Verifier], result: VerifyResult) -> None:
    stage = "consistency"
    name, data = trusted
    try:
        old = parse_checkpoint(open_note(data, verifiers)[0])
    except TollgateError as exc:
        raise _Fail(stage, f"trusted checkpoint {name}: {exc.message}") from exc
    if old.origin != cp.origin:
        raise _Fail(stage, f"trusted checkpoint {name} is for origin {old.origin}")
    if old.size > cp.size:
        raise _Fail(stage, f"export is truncated or rolled back: trusted checkpoint {name} has "
                    f"size {old.size}, export only {cp.size}")
    if old.size == cp.size and old.root != cp.root:
        raise _Fail(stage, f"history rewritten: trusted checkpoint {name} has a different root "
                    f"for size {old.size}")
    if 0 < old.size < cp.size:
        proof = TileReader(store, cp.size).consistency_proof(old.size)
        try:
            merkle.verify_consistency(old.size, cp.size, old.root, cp.root, proof)
        except TollgateError as exc:
            raise _Fail(stage, f"history rewritten since trusted checkpoint {name} "
                        f"(size {old.size}): {exc.message}") from exc
    result.checks.append(f"consistent with trusted checkpoint {name} (size {old.size})")
