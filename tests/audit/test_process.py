"""The audit log in a worker process (broker.audit.process): same answers as in-process, no
acknowledged record lost when the worker dies, and a new worker takes over."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit import wire
from broker.audit.export import export_log
from broker.audit.log import AuditLog
from broker.audit.process import AuditProcess
from broker.audit.records import IndexFields, admin_record
from broker.audit.verify import verify_export
from broker.errors import AuditUnavailable

from .conftest import ORIGIN, make_decision


@pytest.fixture
def proc(tmp_path: Path, key: Ed25519PrivateKey) -> Iterator[AuditProcess]:
    p = AuditProcess(tmp_path / "log", key, ORIGIN, checkpoint_interval_s=0.05)
    p.start()
    yield p
    p.close()


def _pid(p: AuditProcess) -> int:
    assert p._proc is not None
    return p._proc.pid


def test_appends_from_threads_and_loops_are_durable_and_published(proc: AuditProcess) -> None:
    assert proc.append(make_decision(0)) == 0
    assert proc.append_many([make_decision(1), make_decision(2)]) == [1, 2]

    async def burst() -> list[int]:
        return list(await asyncio.gather(*(proc.append_async(make_decision(i)) for i in range(3, 503))))

    assert asyncio.run(burst()) == list(range(3, 503))
    proc.wait_published(502)
    assert proc.checkpoint().size >= 503
    assert proc.health()["status"] == "ok"
    assert json.loads(proc.entry(7))["decision_id"] == "dec-7"
    assert [h["index"] for h in proc.search(decision_id="dec-42")] == [42]
    assert proc.inclusion_proof(9)["tree_size"] == proc.checkpoint().size


def test_rotation_and_keys_go_through_the_worker(proc: AuditProcess) -> None:
    before = proc.vkeys
    new = proc.rotate_key(Ed25519PrivateKey.generate(), overlap_s=60)
    assert proc.vkeys == [*before, new]
    assert new in proc.health()["signing_keys"]


def test_bad_records_are_refused_before_they_reach_the_worker(proc: AuditProcess) -> None:
    from broker.audit.errors import InvalidRecord

    with pytest.raises(InvalidRecord):
        proc.append({"v": 1, "kind": "nonsense", "time": "2026-01-01T00:00:00Z"})
    assert proc.append(admin_record(action="policy.push", actor="a", subject="s", details={})) == 0


def test_a_killed_worker_fails_waiters_then_a_new_one_recovers_every_acknowledged_record(
        proc: AuditProcess, tmp_path: Path) -> None:
    acked = [proc.append(make_decision(i)) for i in range(50)]
    os.kill(_pid(proc), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while proc.health()["status"] != "unavailable" and proc.restarts == 0:
        assert time.monotonic() < deadline, "the broker did not notice the dead worker"
        time.sleep(0.01)
    # Until a new worker runs, appends fail (503): never an answer without its record.
    deadline = time.monotonic() + 30
    while proc.restarts == 0:
        assert time.monotonic() < deadline, "no new audit worker"
        time.sleep(0.05)
    assert proc.health()["status"] == "ok"
    index = proc.append(make_decision(50))
    assert index == 50  # nothing lost, nothing duplicated
    proc.wait_published(index)
    assert [json.loads(e)["decision_id"] for e in proc.entries(0, 51)] == [f"dec-{i}" for i in range(51)]
    assert acked == list(range(50))


def test_async_appends_pending_when_the_worker_dies_fail_closed(proc: AuditProcess) -> None:
    async def run() -> list[int | BaseException]:
        await proc.append_async(make_decision(0))  # binds the data socket to this loop
        pid = _pid(proc)
        futures = [asyncio.ensure_future(proc.append_async(make_decision(i))) for i in range(1, 200)]
        os.kill(pid, signal.SIGKILL)
        return list(await asyncio.gather(*futures, return_exceptions=True))

    results = asyncio.run(run())
    for r in results:  # each either made it (durable, with its index) or failed explicitly
        assert isinstance(r, int | AuditUnavailable)
    ok = sorted(r for r in results if isinstance(r, int))
    assert ok == list(range(1, 1 + len(ok)))


def test_close_publishes_what_is_durable_and_the_directory_reopens_in_process(
        tmp_path: Path, key: Ed25519PrivateKey) -> None:
    p = AuditProcess(tmp_path / "log", key, ORIGIN, checkpoint_interval_s=30)
    p.start()
    p.append_many([make_decision(i) for i in range(300)])
    p.append(make_decision(300, big="x" * 70_000))  # payload stored as a blob by the broker
    vkey = p.vkeys[0]
    p.close()
    with pytest.raises(AuditUnavailable):
        p.append(make_decision(301))
    log = AuditLog(tmp_path / "log", key, ORIGIN)
    log.start()
    try:
        assert log.checkpoint().size == 301  # close published everything durable
        assert log.append(make_decision(301)) == 301
        log.wait_published(301)
        out = tmp_path / "export"
        export_log(log, out)
    finally:
        log.close()
    result = verify_export(out, keys=[vkey])
    assert result.ok, result


def test_a_worker_that_cannot_open_the_log_reports_why(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    p = AuditProcess(tmp_path / "log", key, ORIGIN)
    p.start()
    p.append(make_decision(0))
    p.close()
    other = AuditProcess(tmp_path / "log", key, "some.other/origin")
    with pytest.raises(AuditUnavailable, match="origin"):
        other.start()
    other.close()


def test_frames_round_trip_and_bad_lengths_are_refused() -> None:
    meta = [IndexFields("decision", 1.5, "d", "t", "m"), None]
    buf = wire.FrameBuffer()
    data = wire.append_frame(7, [b"{}", b'{"a":1}'], meta) + wire.ack_frame(7, 42)
    frames = buf.feed(data[:5]) + buf.feed(data[5:])
    assert [(k, i) for k, i, _ in frames] == [(b"A", 7), (b"K", 7)]
    assert wire.parse_append(frames[0][2]) == ([b"{}", b'{"a":1}'], meta)
    assert wire.parse_ack(frames[1][2]) == 42
    with pytest.raises(ValueError):
        wire.FrameBuffer().feed(b"\x00\x00\x00\x01" + b"x" * 20)


@pytest.mark.parametrize("worker", ["process", "thread"])
def test_the_broker_records_decisions_and_serves_auditors_in_either_mode(tmp_path: Path, worker: str) -> None:
    from tests.hardening.conftest import ALLOWED, start_in_process

    client, _, minter = start_in_process(tmp_path, audit_worker=worker, audit_checkpoint_interval_s=0.05)
    gateway = {"authorization": f"Bearer {minter.token('gateway')}"}
    auditor = {"authorization": f"Bearer {minter.token('auditor')}"}
    with client:
        log = client.app.state.audit_log  # type: ignore[attr-defined]
        assert isinstance(log, AuditProcess if worker == "process" else AuditLog)
        decided = [client.post("/v1/preflight", json=ALLOWED, headers=gateway).json() for _ in range(3)]
        assert all(d["allow"] for d in decided)
        log.wait_published(log.health()["sequenced"] - 1)  # every record so far
        for d in decided:
            hits = client.get("/v1/audit/search", params={"decision_id": d["decision_id"]}, headers=auditor)
            assert hits.status_code == 200, hits.text
            [hit] = hits.json()["items"]
            assert hit["record"]["decision_id"] == d["decision_id"]
            receipt = client.get("/v1/audit/receipt", params={"decision_id": d["decision_id"]}, headers=auditor)
            assert receipt.status_code == 200, receipt.text
        assert client.get("/v1/audit/checkpoint", headers=auditor).status_code == 200
        assert client.get("/readyz").json()["checks"]["audit_log"]["ok"] is True
