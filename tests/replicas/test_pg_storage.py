"""The PostgreSQL drivers: gap-free durable sequencing and shared object storage."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from broker.audit.checkpoint import Checkpoint
from broker.audit.errors import LogCorrupt
from broker.audit.note import Ed25519Signer, sign_note
from broker.audit.storage.pg_objects import CheckpointSuperseded, PgLogStorage
from broker.audit.storage.pg_sequence import PgSequenceStore
from broker.errors import NotFound

ROOT = Path(__file__).resolve().parents[2]

APPENDER = """
import sys
from broker.audit.storage.pg_sequence import PgSequenceStore
from broker.replicas.wiring import shared_engine
url, tag, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = PgSequenceStore(shared_engine(url))
store.open()
for b in range(batches):
    if b % 10 == 5:
        store.open()  # a replica starting while others append
    recs = [f"{tag}-{b}-{i}".encode() for i in range(1 + b % 7)]
    first = store.append(recs)
    print(first, len(recs), flush=True)
"""


def test_append_read_in_order(engine: Engine) -> None:
    store = PgSequenceStore(engine)
    assert store.open() == 0
    assert store.append([b"a", b"b"]) == 0
    assert store.append([b"c"]) == 2
    assert store.append([bytes(range(256)) * 10]) == 3
    assert store.size() == 4
    assert store.read(0, 3) == [b"a", b"b", b"c"]
    assert store.read(3, 4) == [bytes(range(256)) * 10]
    assert store.read(2, 2) == []
    with pytest.raises(LogCorrupt):
        store.read(3, 5)


def test_acknowledged_records_survive_a_new_connection(make_engine: Callable[[], Engine]) -> None:
    first = PgSequenceStore(make_engine())
    first.open()
    acked = [first.append([f"r{i}".encode()]) for i in range(20)]
    first.engine.dispose()  # as if the process died: nothing cached survives
    again = PgSequenceStore(make_engine())
    assert again.open() == 20
    assert again.read(0, 20) == [f"r{i}".encode() for i in acked]


def test_failed_batch_leaves_no_gap(engine: Engine) -> None:
    store = PgSequenceStore(engine)
    store.open()
    store.append([b"x"])
    with pytest.raises(Exception):  # a record that is not bytes: COPY fails mid-batch
        store.append([b"ok", "not bytes"])  # type: ignore[list-item]
    assert store.append([b"y"]) == 1
    assert store.read(0, 2) == [b"x", b"y"]


def test_counter_and_rows_must_agree(engine: Engine) -> None:
    store = PgSequenceStore(engine)
    store.open()
    store.append([b"a", b"b"])
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_seq_records WHERE idx = 1"))
    with pytest.raises(LogCorrupt):
        store.open()


def test_published_records_are_compacted_but_the_newest_is_kept(engine: Engine) -> None:
    store = PgSequenceStore(engine, compact_every=4)
    store.open()
    store.append([f"r{i}".encode() for i in range(10)])
    store.mark_integrated(3)  # fewer than compact_every: nothing yet
    assert store.read(0, 10)[0] == b"r0"
    store.mark_integrated(8)
    assert store.read(8, 10) == [b"r8", b"r9"]
    with pytest.raises(LogCorrupt, match="below 8 were compacted"):
        store.read(5, 9)
    store.mark_integrated(10)  # everything is published: the newest record stays
    assert store.read(9, 10) == [b"r9"]
    again = PgSequenceStore(engine)
    assert again.open() == 10  # the counter still agrees with the newest record
    assert again.append([b"r10"]) == 10


def test_two_processes_get_distinct_gap_free_indexes(pg_url: str, engine: Engine) -> None:
    PgSequenceStore(engine).open()
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, pg_url, tag, "60"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tag in ("p", "q")]
    done = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in done]
    outs = [out for out, _ in done]
    claimed: dict[int, str] = {}
    for tag, out in zip(("p", "q"), outs, strict=True):
        for line in out.split("\n"):
            if line:
                first, n = map(int, line.split())
                for i in range(first, first + n):
                    assert i not in claimed
                    claimed[i] = tag
    store = PgSequenceStore(engine)
    size = store.size()
    assert sorted(claimed) == list(range(size))  # every index handed out once, no gaps
    records = store.read(0, size)
    assert {r.decode().split("-")[0] for r in records} == {"p", "q"}
    # each process's own batches appear in the order it appended them
    for tag in ("p", "q"):
        mine = [r.decode() for r in records if r.startswith(tag.encode())]
        assert mine == sorted(mine, key=lambda s: tuple(map(int, s.split("-")[1:])))


def test_append_throughput(engine: Engine) -> None:
    """Group-commit sized batches; prints the figure (not a hard gate: shared CI machine)."""
    store = PgSequenceStore(engine)
    store.open()
    record = b'{"kind":"decision","pad":"' + b"x" * 300 + b'"}'
    batch = [record] * 2000
    started = time.perf_counter()
    for _ in range(20):
        store.append(batch)
    rate = 40_000 / (time.perf_counter() - started)
    print(f"\nPG sequence append: {rate:,.0f} records/s in batches of 2000")
    assert store.size() == 40_000
    assert rate > 2_000


def _checkpoint(size: int, key: Ed25519PrivateKey) -> bytes:
    cp = Checkpoint("tollgate.test/replicas", size, bytes(32))
    return sign_note(cp.to_text(), [Ed25519Signer("tollgate.test/replicas", key)])


def test_object_storage(engine: Engine) -> None:
    store = PgLogStorage(engine)
    with pytest.raises(NotFound):
        store.get("tile/0/000")
    store.put_many({"tile/0/000": b"a", "tile/0/001": b"b", "tile/entries/000": b"e",
                    "tile_x/0": b"not under tile/"})
    store.put("tile/0/001", b"b2")
    assert store.get("tile/0/001") == b"b2"
    assert store.exists("tile/0/000") and not store.exists("tile/9/000")
    assert sorted(store.list("tile/0/")) == ["tile/0/000", "tile/0/001"]
    assert sorted(store.list("tile_")) == ["tile_x/0"]  # '_' is literal, not a wildcard
    store.delete("tile/0/000")
    store.delete("tile/0/000")  # absent: ignored
    assert not store.exists("tile/0/000")
    with pytest.raises(ValueError, match="unsafe"):
        store.get("../etc/passwd")


def test_checkpoint_never_goes_backwards(engine: Engine) -> None:
    store = PgLogStorage(engine)
    key = Ed25519PrivateKey.generate()
    assert store.get_checkpoint() is None
    store.publish_checkpoint(_checkpoint(10, key))
    store.publish_checkpoint(_checkpoint(10, key))  # idle re-sign at the same size is fine
    newer = _checkpoint(12, key)
    store.put("checkpoint", newer)
    with pytest.raises(CheckpointSuperseded):
        store.publish_checkpoint(_checkpoint(11, key))
    assert store.get_checkpoint() == newer
