"""Export + offline verification, and tamper detection: every tamper must be caught."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit.export import MANIFEST, export_log, export_tar, unpack_export
from broker.audit.log import AuditLog
from broker.audit.tiles import decode_bundle, encode_bundle
from broker.audit.verify import VerifyResult, verify_export
from broker.errors import BadRequest

from .conftest import LogFactory, make_decision


@pytest.fixture
def built(make_log: LogFactory, tmp_path: Path) -> tuple[AuditLog, Path, bytes, str]:
    log = make_log()
    log.append_many([make_decision(i) for i in range(300)])
    log.wait_published(299)
    early = log.checkpoint_note()
    log.append(make_decision(9999, big="x" * 70_000))  # offloaded to a blob
    log.append_many([make_decision(i) for i in range(300, 700)])
    log.wait_published(700)
    out = tmp_path / "export"
    export_log(log, out)
    return log, out, early, log.vkeys[0]


def check(path: Path, vkey: str, trusted: list[bytes] | None = None) -> VerifyResult:
    return verify_export(path, keys=[vkey],
                         trusted_checkpoints=[(f"cp{i}", c) for i, c in enumerate(trusted or [])])


def remanifest(path: Path) -> None:
    """What a careful attacker does after editing files: recompute every hash."""
    manifest = json.loads((path / MANIFEST).read_bytes())
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*")
                   if p.is_file() and p.name != MANIFEST)
    manifest["files"] = {f: hashlib.sha256((path / f).read_bytes()).hexdigest() for f in files}
    (path / MANIFEST).write_text(json.dumps(manifest))


def test_export_verifies(built: tuple[AuditLog, Path, bytes, str]) -> None:
    log, out, early, vkey = built
    result = check(out, vkey, [early, log.checkpoint_note()])
    assert result.ok, result.verdict()
    assert "VERIFIED" in result.verdict()
    assert any("blobs/sha256" in f for f in json.loads((out / MANIFEST).read_text())["files"])


def test_wrong_key_and_witness_policy_fail(built: tuple[AuditLog, Path, bytes, str]) -> None:
    _, out, _, _ = built
    other = AuditLog.__new__(AuditLog)  # only to reach the signer type; not started
    del other
    from broker.audit.note import Ed25519Signer
    stranger = Ed25519Signer("tollgate.test/audit", Ed25519PrivateKey.generate()).vkey
    result = check(out, stranger)
    assert not result.ok and result.stage == "checkpoint"
    result = verify_export(out, keys=[], min_witnesses=1)
    assert not result.ok and "witness" in (result.failure or "")


def _files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


def test_every_single_byte_flip_detected(built: tuple[AuditLog, Path, bytes, str],
                                         tmp_path: Path) -> None:
    _, out, _, vkey = built
    rng = random.Random(7)
    for f in _files(out):
        data = f.read_bytes()
        # Every byte of small files; a spread of positions (ends included) of large ones.
        positions = range(len(data)) if len(data) <= 2048 else sorted(
            {0, len(data) - 1, *rng.sample(range(len(data)), 64)})
        for pos in positions:
            for mask in (0x01, 0x80):
                mutated = bytearray(data)
                mutated[pos] ^= mask
                f.write_bytes(bytes(mutated))
                assert not check(out, vkey).ok, f"undetected flip in {f.name} at {pos}"
        f.write_bytes(data)
    assert check(out, vkey).ok


def test_byte_flips_detected_even_with_recomputed_manifest(
        built: tuple[AuditLog, Path, bytes, str], tmp_path: Path) -> None:
    _, out, _, vkey = built
    rng = random.Random(11)
    for f in _files(out):
        if f.name in (MANIFEST, "log.vkey"):
            continue  # the manifest is rewritten here; log.vkey is unused when --key is given
        data = f.read_bytes()
        for pos in sorted({0, len(data) - 1, *rng.sample(range(len(data)), min(24, len(data)))}):
            work = tmp_path / "work"
            shutil.copytree(out, work)
            target = work / f.relative_to(out)
            mutated = bytearray(data)
            mutated[pos] ^= 0x04
            target.write_bytes(bytes(mutated))
            remanifest(work)
            assert not check(work, vkey).ok, f"undetected flip in {f.name} at {pos}"
            shutil.rmtree(work)


def _edit_bundle(out: Path, edit: str) -> None:
    bundle = out / "tile/entries/001"
    entries = decode_bundle(bundle.read_bytes())
    if edit == "delete":
        del entries[10]
    elif edit == "reorder":
        entries[3], entries[4] = entries[4], entries[3]
    elif edit == "insert":
        entries.insert(5, entries[6])
    bundle.write_bytes(encode_bundle(entries))


@pytest.mark.parametrize("edit", ["delete", "reorder", "insert"])
def test_deleted_reordered_inserted_entries_detected(
        built: tuple[AuditLog, Path, bytes, str], edit: str) -> None:
    _, out, _, vkey = built
    _edit_bundle(out, edit)
    remanifest(out)
    result = check(out, vkey)
    assert not result.ok and result.stage == "entries", result.verdict()


def test_truncated_tail_detected(built: tuple[AuditLog, Path, bytes, str]) -> None:
    _, out, _, vkey = built
    for p in (out / "tile/entries").rglob("*.p"):
        shutil.rmtree(p)
    remanifest(out)
    result = check(out, vkey)
    assert not result.ok, result.verdict()


def test_older_genuine_export_detected_by_trusted_checkpoint(
        make_log: LogFactory, tmp_path: Path) -> None:
    log = make_log()
    log.append_many([make_decision(i) for i in range(500)])
    log.wait_published(499)
    old_export = tmp_path / "old"
    export_log(log, old_export)
    log.append_many([make_decision(i) for i in range(500, 600)])
    log.wait_published(599)
    newer = log.checkpoint_note()
    assert check(old_export, log.vkeys[0]).ok
    result = check(old_export, log.vkeys[0], [newer])
    assert not result.ok and result.stage == "consistency"
    assert "truncated" in (result.failure or "")


def test_replaced_checkpoint_with_older_one_detected(built: tuple[AuditLog, Path, bytes, str],
                                                     ) -> None:
    _, out, early, vkey = built
    (out / "checkpoint").write_bytes(early)
    assert not check(out, vkey).ok
    remanifest(out)
    result = check(out, vkey)
    assert not result.ok and result.stage == "checkpoint"
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["tree_size"] = 300
    import base64
    manifest["root"] = base64.b64decode(early.split(b"\n")[2]).hex()
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert not check(out, vkey).ok


def test_rewritten_history_detected(make_log: LogFactory, tmp_path: Path,
                                    key: Ed25519PrivateKey) -> None:
    honest = make_log(tmp_path / "honest")
    honest.append_many([make_decision(i) for i in range(400)])
    honest.wait_published(399)
    trusted = honest.checkpoint_note()
    # Same key and origin, but entry 7 differs: a rewritten history re-signed by the log.
    forged = make_log(tmp_path / "forged")
    forged.append_many([make_decision(i if i != 7 else 70000) for i in range(600)])
    forged.wait_published(599)
    export_log(forged, tmp_path / "forged-export")
    result = check(tmp_path / "forged-export", honest.vkeys[0], [trusted])
    assert not result.ok and "history rewritten" in (result.failure or ""), result.verdict()


def test_range_export_and_tarball(built: tuple[AuditLog, Path, bytes, str],
                                  tmp_path: Path) -> None:
    log, _, early, vkey = built
    manifest = export_log(log, tmp_path / "range", 260, 530)
    assert (manifest["entries_from"], manifest["entries_to"]) == (256, 701)
    assert check(tmp_path / "range", vkey, [early]).ok
    tar = tmp_path / "audit-export.tar.gz"
    export_tar(log, tar, 0, 100)
    root = unpack_export(tar, tmp_path / "unpacked")
    assert check(root, vkey, [early]).ok
    with pytest.raises(BadRequest):
        export_tar(log, tmp_path / "..bad.tar.gz")
    with pytest.raises(BadRequest):
        export_log(log, tmp_path / "range")  # not empty
    with pytest.raises(BadRequest):
        export_log(log, tmp_path / "r2", 5, 10_000)


def test_unsafe_manifest_paths_rejected(built: tuple[AuditLog, Path, bytes, str]) -> None:
    _, out, _, vkey = built
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"]["../etc/passwd"] = "00"
    (out / MANIFEST).write_text(json.dumps(manifest))
    result = check(out, vkey)
    assert not result.ok and "unsafe" in (result.failure or "")
