"""AuditLog behaviour: durability, recovery, fail-closed, keys, index, receipts."""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit import records
from broker.audit.checkpoint import parse_checkpoint
from broker.audit.errors import InvalidProof, InvalidRecord, LogCorrupt
from broker.audit.export import export_log
from broker.audit.keys import generate_log_key, load_log_key, load_or_create_log_key
from broker.audit.note import Ed25519Verifier, open_note, parse_note
from broker.audit.proofs import verify_receipt
from broker.audit.verify import verify_export
from broker.errors import AuditUnavailable, BadRequest, NotFound

from .conftest import ORIGIN, LogFactory, make_decision


def test_append_returns_consecutive_indexes(make_log: LogFactory) -> None:
    log = make_log()
    assert log.append(make_decision(0)) == 0
    assert log.append_many([make_decision(i) for i in (1, 2, 3)]) == [1, 2, 3]
    assert asyncio.run(log.append_async(make_decision(4))) == 4
    log.wait_published(4)
    assert log.checkpoint().size == 5
    assert json.loads(log.entry(2))["decision_id"] == "dec-2"


def test_canonical_bytes_and_validation() -> None:
    rec = make_decision(1)
    data = records.encode_record(rec)
    assert data == json.dumps(rec, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode()
    assert b" " not in data.replace(b"R1", b"")
    with pytest.raises(InvalidRecord, match="NaN"):
        records.encode_record({**rec, "input": {"x": float("nan")}})
    with pytest.raises(InvalidRecord, match="missing"):
        records.encode_record({k: v for k, v in rec.items() if k != "engine"})
    with pytest.raises(InvalidRecord, match="kind"):
        records.encode_record({**rec, "kind": "other"})
    with pytest.raises(InvalidRecord, match="admin action"):
        records.admin_record(action="policy.delete", actor="a", subject="s", details={})
    with pytest.raises(InvalidRecord, match="RFC 3339"):
        records.encode_record({**rec, "time": "yesterday"})
    with pytest.raises(InvalidRecord):
        records.encode_record({**rec, "input": {1: "x"}})
    admin = records.admin_record(action="policy.approve", actor="alice", subject="policy/7",
                                 details={"revision": 7})
    assert records.encode_record(admin).startswith(b'{"action":"policy.approve"')


def test_large_payload_goes_to_blob(make_log: LogFactory) -> None:
    log = make_log()
    idx = log.append(make_decision(1, big="é" * 50_000))
    log.wait_published(idx)
    rec = json.loads(log.entry(idx))
    assert rec["blobs"] == ["input"]
    blob = log.storage.get(f"blobs/sha256/{rec['input']['sha256']}")
    assert json.loads(blob)["big"] == "é" * 50_000 and len(blob) == rec["input"]["size"]
    with pytest.raises(records.RecordTooLarge):
        records.encode_record(make_decision(1, big="x" * 70_000))  # no blob sink
    with pytest.raises(records.RecordTooLarge):
        log.append({**make_decision(2), "engine": "e" * 70_000})


def test_restart_recovers_and_continues(make_log: LogFactory, tmp_path: Path,
                                        key: Ed25519PrivateKey) -> None:
    log = make_log()
    log.append_many([make_decision(i) for i in range(600)])
    log.wait_published(599)
    root = log.checkpoint_note()
    log.close()
    # Drop all tiles and the index: both are rebuilt from the sequence file.
    shutil.rmtree(tmp_path / "log/public/tile")
    (tmp_path / "log/index.sqlite").unlink()
    again = make_log()
    assert again.checkpoint().size == 600
    assert parse_checkpoint(parse_note(root)[0]).root == again.checkpoint().root
    assert again.append(make_decision(600)) == 600
    again.wait_published(600)
    assert again.find_decision("dec-599") == 599
    result = verify_export(_export(again, tmp_path), keys=again.vkeys)
    assert result.ok, result.verdict()


def _export(log: object, tmp_path: Path) -> Path:
    out = tmp_path / f"export-{next(_counter)}"
    export_log(log, out)  # type: ignore[arg-type]
    return out


_counter = itertools.count()


def test_torn_tail_is_truncated(make_log: LogFactory, tmp_path: Path) -> None:
    log = make_log()
    log.append_many([make_decision(i) for i in range(10)])
    log.close()
    seq = tmp_path / "log/seq/records.log"
    with seq.open("ab") as f:
        f.write(b"TB\x00\x00\x00\x05\x00\x00\x10\x00garbage")  # a batch cut short by a crash
    again = make_log()
    assert again.append(make_decision(10)) == 10


def test_corruption_in_the_middle_fails_closed(make_log: LogFactory, tmp_path: Path,
                                               key: Ed25519PrivateKey) -> None:
    log = make_log()
    log.append_many([make_decision(i) for i in range(5)])
    log.append_many([make_decision(i) for i in range(5, 10)])
    log.close()
    seq = tmp_path / "log/seq/records.log"
    data = bytearray(seq.read_bytes())
    data[40] ^= 0xFF
    seq.write_bytes(bytes(data))
    with pytest.raises(LogCorrupt):
        make_log()


def test_disk_failure_fails_closed(make_log: LogFactory, monkeypatch: pytest.MonkeyPatch,
                                   ) -> None:
    log = make_log()
    log.append(make_decision(0))

    seq_fd = log._seq._fd  # type: ignore[attr-defined]
    real_write = os.write

    def broken(fd: int, data: Any) -> int:  # the sequence's durable (O_DSYNC) write fails
        if fd == seq_fd:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", broken)
    with pytest.raises(AuditUnavailable, match="No space left"):
        log.append(make_decision(1))
    monkeypatch.undo()
    with pytest.raises(AuditUnavailable) as info:
        log.append(make_decision(2))  # sticky: no silent recovery after a failed fsync
    assert info.value.code == "AUDIT_LOG_UNAVAILABLE"
    health = log.health()
    assert health["status"] == "unavailable" and "No space" in health["reason"]


def test_append_after_close_fails(make_log: LogFactory) -> None:
    log = make_log()
    log.close()
    with pytest.raises(AuditUnavailable):
        log.append(make_decision(0))


def test_idle_log_is_resigned(make_log: LogFactory) -> None:
    ticks = itertools.count(1_800_000_000, 7)
    log = make_log(idle_resign_s=5, clock=lambda: float(next(ticks)))
    log.append(make_decision(0))
    log.wait_published(0)
    first = log.checkpoint()
    import time
    deadline = time.monotonic() + 5
    while log.checkpoint().timestamp == first.timestamp and time.monotonic() < deadline:
        time.sleep(0.02)
    later = log.checkpoint()
    assert later.size == first.size and later.root == first.root
    assert later.timestamp is not None and first.timestamp is not None
    assert later.timestamp > first.timestamp


def test_key_rotation_dual_signs_then_retires(make_log: LogFactory, tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    log = make_log(clock=lambda: now[0])
    old_vkey = log.vkeys[0]
    log.append(make_decision(0))
    new_key = Ed25519PrivateKey.generate()
    new_vkey = log.rotate_key(new_key, overlap_s=100, actor="alice")
    log.wait_published(1)
    note = log.checkpoint_note()
    for vkey in (old_vkey, new_vkey):
        open_note(note, [Ed25519Verifier.from_vkey(vkey)])
    assert len(parse_note(note)[1]) == 2
    rotated = json.loads(log.entry(1))
    assert rotated["action"] == "key.rotate" and rotated["subject"] == new_vkey
    assert verify_export(_export(log, tmp_path), keys=[old_vkey]).ok
    now[0] += 200  # overlap over: the old key stops signing
    log.append(make_decision(2))
    log.wait_published(2)
    import time
    deadline = time.monotonic() + 5
    while len(parse_note(log.checkpoint_note())[1]) != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    sigs = parse_note(log.checkpoint_note())[1]
    assert [s.key_id.hex() for s in sigs] == [new_vkey.split("+")[1]]
    history, periods = log.key_history()
    assert history is not None
    open_note(history, [Ed25519Verifier.from_vkey(new_vkey)])
    assert [p.vkey for p in periods] == [old_vkey, new_vkey]
    assert periods[0].not_after == 1_800_000_100 and periods[1].not_after is None
    result = verify_export(_export(log, tmp_path), keys=[new_vkey])
    assert result.ok, result.verdict()


def test_search_receipts_and_proofs(make_log: LogFactory) -> None:
    log = make_log()
    log.append_many([make_decision(i, tenant="acme" if i % 2 else "globex",
                                   model="m1" if i < 50 else "m2") for i in range(100)])
    log.wait_published(99)
    hits = log.search(tenant="acme", model="m2", limit=5)
    assert [h["index"] for h in hits] == [51, 53, 55, 57, 59]
    page2 = log.search(tenant="acme", model="m2", limit=5, after=59)
    assert page2[0]["index"] == 61
    t0 = records.parse_time("2026-01-01T00:00:10Z").timestamp()
    assert [h["index"] for h in log.search(since=t0, until=t0 + 3)] == [10, 11, 12]
    assert log.search(tenants=frozenset({"acme"}), decision_id="dec-4") == []
    receipt = log.receipt(log.find_decision("dec-42"))
    vkeys = [Ed25519Verifier.from_vkey(v) for v in log.vkeys]
    r, cp, entry = verify_receipt(receipt, vkeys)
    assert r.index == 42 and json.loads(entry)["decision_id"] == "dec-42" and cp.size == 100
    with pytest.raises(InvalidProof):
        verify_receipt(receipt.replace(b"index 42", b"index 43"), vkeys)
    with pytest.raises(NotFound):
        log.find_decision("nope")
    with pytest.raises(BadRequest):
        log.inclusion_proof(5, size=1000)


def test_dev_key_files(tmp_path: Path) -> None:
    path = generate_log_key(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    key = load_log_key(path)
    assert load_or_create_log_key(tmp_path).public_key().public_bytes_raw() == (
        key.public_key().public_bytes_raw())
    path.chmod(0o644)
    with pytest.raises(BadRequest, match="chmod 600"):
        load_log_key(path)


def test_wrong_origin_or_key_refused(make_log: LogFactory, tmp_path: Path) -> None:
    log = make_log()
    log.append(make_decision(0))
    log.close()
    from broker.audit.log import AuditLog
    other = AuditLog(tmp_path / "log", Ed25519PrivateKey.generate(), "other.example/log")
    with pytest.raises(LogCorrupt):
        other.start()
    assert ORIGIN


def test_integration_failure_is_retried(make_log: LogFactory,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from broker.audit.storage.fs import FsLogStorage

    log = make_log()
    log.append_many([make_decision(i) for i in range(300)])
    log.wait_published(299)
    real = FsLogStorage.put_many
    failures = [0]

    def flaky(self: FsLogStorage, objects: dict[str, bytes]) -> None:
        if failures[0] < 2:
            failures[0] += 1
            raise OSError(errno.EIO, "Input/output error")
        real(self, objects)

    monkeypatch.setattr(FsLogStorage, "put_many", flaky)
    log.append_many([make_decision(i) for i in range(300, 700)])  # sequencing is unaffected
    import time
    deadline = time.monotonic() + 5
    while log.health()["status"] != "degraded" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert failures[0] >= 1
    log.wait_published(699)
    assert log.health()["status"] == "ok"
    assert log.find_decision("dec-650") == 650
    assert [h["index"] for h in log.search(decision_id="dec-699")] == [699]


def test_published_records_leave_the_sequence_and_the_log_restarts_from_tiles(
        tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """Compaction end to end: small segments, many checkpoints, restart, everything verifies."""
    from broker.audit.log import AuditLog
    from broker.audit.storage.fs import FsSequenceStore

    def open_log() -> AuditLog:
        seq = FsSequenceStore(tmp_path / "log/seq/records.log", segment_bytes=4096)
        log = AuditLog(tmp_path / "log", key, "tollgate.test/compaction", sequence=seq,
                       checkpoint_interval_s=0.02, checkpoint_every=50)
        log.start()
        return log

    log = open_log()
    last = 0
    for i in range(0, 600, 20):
        last = log.append_many([make_decision(j) for j in range(i, i + 20)])[-1]
    log.wait_published(last)
    log.append(make_decision(600))  # one more integration round after the publish
    log.wait_published(last + 1)
    seq_dir = tmp_path / "log/seq"
    kept = sum(p.stat().st_size for p in seq_dir.iterdir())
    assert kept < 64 * 1024  # 601 records of ~300 bytes: most segments are gone
    log.close()
    again = open_log()
    assert again.append(make_decision(601)) == 601
    again.wait_published(601)
    assert again.entry(5) == log.entry(5)
    export_log(again, tmp_path / "export")
    assert verify_export(tmp_path / "export").ok
    again.close()
