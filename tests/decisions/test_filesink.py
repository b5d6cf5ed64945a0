"""The stand-in decision log: durable JSON lines, group commit, crash recovery, fail-stop."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

import pytest

from broker.decisions.filesink import JsonlFileSink
from broker.decisions.sink import DecisionSink
from broker.errors import AuditUnavailable


def test_appends_are_durable_lines_with_indices(tmp_path: Path) -> None:
    path = tmp_path / "log" / "decisions.jsonl"
    sink = JsonlFileSink(path)
    assert isinstance(sink, DecisionSink)
    assert [sink.append({"n": i, "ü": "✓"}) for i in range(3)] == [0, 1, 2]
    assert asyncio.run(sink.append_async({"n": 3})) == 3
    sink.close()
    lines = path.read_bytes().splitlines()
    assert [json.loads(x)["n"] for x in lines] == [0, 1, 2, 3]
    assert lines[0] == b'{"n":0,"\xc3\xbc":"\xe2\x9c\x93"}'  # canonical: sorted, compact, UTF-8
    assert JsonlFileSink(path).append({"n": 4}) == 4  # indices continue after a restart


def test_torn_tail_is_cut_on_open(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"n":0}\n{"n":1')  # a crash mid-write: record 1 was never acknowledged
    sink = JsonlFileSink(path)
    assert sink.append({"n": 1}) == 1
    sink.close()
    assert path.read_bytes() == b'{"n":0}\n{"n":1}\n'


def test_concurrent_appends_group_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs = 0
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        nonlocal syncs
        syncs += 1
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    sink = JsonlFileSink(tmp_path / "d.jsonl")

    async def many() -> list[int]:
        return list(await asyncio.gather(*(sink.append_async({"n": i}) for i in range(500))))

    indices = asyncio.run(many())
    assert sorted(indices) == list(range(500))
    assert syncs < 100  # many records per flush
    sink.close()


def test_write_failure_fails_every_waiter_and_stops_the_sink(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    sink = JsonlFileSink(tmp_path / "d.jsonl")
    assert sink.append({"ok": True}) == 0

    def broken(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(AuditUnavailable):
        sink.append({"n": 1})
    monkeypatch.undo()
    with pytest.raises(AuditUnavailable):  # fail-stop: the file state is unknown after that
        sink.append({"n": 2})
    assert sink.healthy()[0] is False
    sink.close()


def test_rejects_non_json_oversize_and_closed(tmp_path: Path) -> None:
    sink = JsonlFileSink(tmp_path / "d.jsonl")
    with pytest.raises(AuditUnavailable):
        sink.append({"x": float("nan")})
    with pytest.raises(AuditUnavailable):
        sink.append({"x": "a" * (16 * 2**20)})
    with pytest.raises(AuditUnavailable):
        sink.append({"x": object()})
    sink.close()
    with pytest.raises(AuditUnavailable):
        sink.append({"n": 1})


def test_threads_append_concurrently(tmp_path: Path) -> None:
    sink = JsonlFileSink(tmp_path / "d.jsonl")
    got: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for i in range(50):
            idx = sink.append({"i": i})
            with lock:
                got.append(idx)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    assert sorted(got) == list(range(400))
    assert len((tmp_path / "d.jsonl").read_bytes().splitlines()) == 400


def test_a_checked_record_is_written_as_its_canonical_bytes(tmp_path: Path) -> None:
    from broker.canonical import CheckedRecord

    sink = JsonlFileSink(tmp_path / "decisions.log")
    rec = CheckedRecord(b'{"a":"\xc3\xbc","v":1}', ("decision", "d", None, None), 0.0,
                        lambda: pytest.fail("the sink must not build the value"))
    try:
        assert sink.append(rec) == 0
    finally:
        sink.close()
    assert (tmp_path / "decisions.log").read_bytes() == b'{"a":"\xc3\xbc","v":1}\n'
