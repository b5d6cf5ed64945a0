"""Two audit-log replicas in one process, each with its own engines (as two processes would)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from broker.audit.export import export_log
from broker.audit.note import Ed25519Verifier, parse_note
from broker.audit.reader import LogReader
from broker.audit.storage.pg_objects import PgLogStorage
from broker.audit.verify import verify_export
from broker.errors import BadRequest, Conflict
from broker.replicas.audit import ReplicatedAuditLog
from broker.replicas.wiring import Replicas
from tests.audit.conftest import make_decision

ORIGIN = "tollgate.test/replicas"
Make = Callable[..., ReplicatedAuditLog]


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def make_replica(pg_url: str, tmp_path: Path, key: Ed25519PrivateKey) -> Iterator[Make]:
    opened: list[tuple[Replicas, ReplicatedAuditLog]] = []

    def make(name: str, signer: Ed25519PrivateKey | None = None, **kw: Any) -> ReplicatedAuditLog:
        reps = Replicas(pg_url)
        kw.setdefault("checkpoint_interval_s", 0.05)
        log = reps.audit_log(tmp_path / name, signer or key, ORIGIN, **kw)
        log.lease.retry_s = log.lease.check_s = 0.05
        log.start()
        opened.append((reps, log))
        return log

    yield make
    for reps, log in opened:
        log.close()
        reps.close()


def _wait(cond: Callable[[], bool], timeout: float = 10.0) -> float:
    started = time.monotonic()
    while not cond():
        if time.monotonic() - started > timeout:
            raise AssertionError("timed out")
        time.sleep(0.02)
    return time.monotonic() - started


def _export_and_verify(pg_url: str, out: Path, trusted: list[bytes] | None = None) -> int:
    reps = Replicas(pg_url)
    try:
        reader = LogReader(PgLogStorage(reps.engine))
        manifest = export_log(reader, out)
    finally:
        reps.close()
    result = verify_export(out, trusted_checkpoints=[(f"cp{i}", c) for i, c in
                                                     enumerate(trusted or [])])
    assert result.ok, result.verdict()
    return int(manifest["tree_size"])


def test_both_append_one_integrates_one_log(make_replica: Make, pg_url: str,
                                            tmp_path: Path) -> None:
    a = make_replica("a")
    b = make_replica("b")
    assert a.leading and not b.leading  # the first one took the lease
    ia = [a.append(make_decision(i)) for i in range(0, 300, 2)]
    ib = b.append_many([make_decision(i) for i in range(1, 300, 2)])
    assert len(set(ia) | set(ib)) == 300
    b.wait_published(max(ib))
    a.wait_published(max(ia))
    assert a.health()["role"] == "integrator" and b.health()["role"] == "follower"
    # both serve the same published log, search index included
    assert b.checkpoint_note() == a.checkpoint_note() or b.checkpoint().size <= a.checkpoint().size
    for i in (0, 1, 299):
        idx = b.find_decision(f"dec-{i}")
        assert b.entry(idx) == a.entry(idx)
    size = _export_and_verify(pg_url, tmp_path / "export")
    assert size >= 300


def test_failover_continues_the_same_tree(make_replica: Make, pg_url: str,
                                          tmp_path: Path) -> None:
    a = make_replica("a")
    b = make_replica("b")
    last = a.append_many([make_decision(i) for i in range(100)])[-1]
    a.wait_published(last)
    before = a.checkpoint_note()
    # The integrator's database session dies (what a crashed process's session does).
    assert a.lease._conn is not None
    pid = a.lease._conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with a.lease.engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    took = _wait(lambda: b.leading)
    print(f"\nlease failover after session loss: {took:.2f}s")
    _wait(lambda: not a.leading)
    # appends keep working on both, and the new integrator publishes them
    after = [a.append(make_decision(1000 + i)) for i in range(50)]
    after += b.append_many([make_decision(2000 + i) for i in range(50)])
    b.wait_published(max(after))
    a.wait_published(max(after))  # the follower's view (and search index) catches up
    assert b.takeovers == 1
    assert a.find_decision("dec-2049") == b.find_decision("dec-2049")
    _export_and_verify(pg_url, tmp_path / "export", trusted=[before])


def test_graceful_stop_hands_over(make_replica: Make) -> None:
    a = make_replica("a")
    b = make_replica("b")
    idx = a.append(make_decision(1))
    a.close()  # integrates and publishes what it has, then releases the lease
    assert b.checkpoint().size > idx
    _wait(lambda: b.leading)
    later = b.append(make_decision(2))
    b.wait_published(later)


def test_replica_with_another_key_is_refused(make_replica: Make) -> None:
    make_replica("a")
    with pytest.raises(BadRequest, match="same log key"):
        make_replica("b", signer=Ed25519PrivateKey.generate())


def test_cli_exports_and_proves_a_replicated_log_from_postgresql(make_replica: Make, pg_url: str,
                                                                 tmp_path: Path) -> None:
    """Replicas publish tiles in PostgreSQL: `tollgate audit export` must read them there."""
    from typer.testing import CliRunner

    from broker.audit.cli import app

    log = make_replica("a")
    last = max(log.append(make_decision(i)) for i in range(40))
    log.wait_published(last)
    runner = CliRunner()
    out = tmp_path / "cli-export"
    r = runner.invoke(app, ["export", "--out", str(out), "--database-url", pg_url])
    assert r.exit_code == 0, r.output
    assert verify_export(out).ok
    # the same from the environment a broker runs with, no flag needed
    env = {"TOLLGATE_DATABASE_URL": pg_url, "TOLLGATE_AUDIT_BACKEND": "auto"}
    r = runner.invoke(app, ["prove", "--index", "3"], env=env)
    assert r.exit_code == 0 and '"index": 3' in r.output, r.output
    r = runner.invoke(app, ["receipt", "--decision-id", "dec-5", "--database-url", pg_url,
                            "--data-dir", str(tmp_path / "a")])
    assert r.exit_code == 0 and r.output.startswith("c2sp.org/tlog-proof"), r.output
    bad = pg_url.rsplit("/", 1)[0] + "/no_such_database_here"
    r = runner.invoke(app, ["export", "--out", str(tmp_path / "x"), "--database-url", bad])
    assert r.exit_code == 2 and "no_such_database_here" in r.output  # a clear usage error


def _signed_by(note: bytes, *vkeys: str) -> list[bool]:
    ids = {s.key_id for s in parse_note(note)[1]}
    return [Ed25519Verifier.from_vkey(v).key_id in ids for v in vkeys]


def _kill_session(replica: ReplicatedAuditLog) -> None:
    assert replica.lease._conn is not None
    pid = replica.lease._conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with replica.lease.engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})


def test_key_rotation_is_the_integrators_and_a_replica_with_the_old_key_signs_only_in_the_overlap(
        make_replica: Make, pg_url: str, tmp_path: Path) -> None:
    a = make_replica("a")
    b = make_replica("b")
    assert a.leading
    old = a.vkeys[0]
    with pytest.raises(Conflict) as refused:
        b.rotate_key(Ed25519PrivateKey.generate(), overlap_s=60)
    assert refused.value.code == "AUDIT_NOT_INTEGRATOR"
    new = a.rotate_key(Ed25519PrivateKey.generate(), overlap_s=1.5)  # b never gets this key
    # The integrator dies during the overlap; b, holding only the old key, takes over.
    a.lease.retry_s = 3600  # a stays out of the race until the overlap is over
    _kill_session(a)
    _wait(lambda: b.leading)
    during = b.append(make_decision(1))
    b.wait_published(during)
    assert _signed_by(b.checkpoint_note(), old, new) == [True, False]  # still valid: the overlap
    # At the end of the overlap b steps down rather than sign with a retired key ...
    _wait(lambda: not b.leading)
    assert "retired" in b.health()["reason"] and "GET /v1/audit/keys" in b.health()["reason"]
    # ... and a replica holding the current key integrates from there on.
    a.lease.retry_s = 0.05
    _wait(lambda: a.leading)

    # The old key's period ends on a whole second; a's own overlap may run up to a second longer.
    def new_key_alone() -> bool:
        index = b.append(make_decision(2))
        a.wait_published(index)
        b.wait_published(index)
        return _signed_by(a.checkpoint_note(), old, new) == [False, True]

    _wait(new_key_alone, timeout=5)
    assert a.health()["status"] == "ok"
    health = b.health()  # appends work; it only cannot take over: degraded, and why
    assert (health["status"], health["role"]) == ("degraded", "follower") and "retired" in health["reason"]
    # Auditors see an honest log: every checkpoint was signed inside its key's period.
    reps = Replicas(pg_url)
    try:
        export_log(LogReader(PgLogStorage(reps.engine)), tmp_path / "export")
    finally:
        reps.close()
    result = verify_export(tmp_path / "export", keys=[old, new])
    assert result.ok and not result.warnings, result.verdict()
