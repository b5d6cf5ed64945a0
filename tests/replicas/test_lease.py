"""The integrator lease: one holder at a time, handed over when the holder's session ends."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from broker.replicas.lease import AdvisoryLease, lease_engine


@pytest.fixture
def lengine(pg_url: str) -> Iterator[Engine]:
    engine = lease_engine(pg_url)
    yield engine
    engine.dispose()


def _lease(engine: Engine, name: str = "integrator") -> AdvisoryLease:
    return AdvisoryLease(engine, name, retry_s=0.0, check_s=0.0)


def test_one_holder_at_a_time(lengine: Engine) -> None:
    a, b = _lease(lengine), _lease(lengine)
    assert a.held()
    assert not b.held()
    assert a.held()  # verified again, still ours
    assert _lease(lengine, "another-log").held()  # other names are independent
    a.release()
    assert b.held()
    assert not a.held()
    b.release()


_MY_DB_ADVISORY_LOCKS = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")


def test_release_unlocks_before_returning(lengine: Engine) -> None:
    """A graceful hand-over is immediate: the lock is gone when release() returns, not once
    the server notices the closed session (a standby asking at once used to miss it)."""
    with lengine.connect() as watcher:  # already connected: it looks right after release()
        before = int(watcher.execute(_MY_DB_ADVISORY_LOCKS).scalar() or 0)
        for _ in range(20):
            a = _lease(lengine)
            assert a.held()
            a.release()
            assert int(watcher.execute(_MY_DB_ADVISORY_LOCKS).scalar() or 0) == before
            assert not a.holding


def test_holder_session_killed_hands_over(lengine: Engine, engine: Engine) -> None:
    a, b = _lease(lengine), _lease(lengine)
    assert a.held() and not b.held()
    assert a._conn is not None
    pid = a._conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with engine.begin() as conn:  # what a crashed holder's backend does: go away
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    started = time.monotonic()
    while not b.held():
        assert time.monotonic() - started < 5
        time.sleep(0.05)
    assert not a.held()  # the old holder notices on its next check and steps down
    assert a.last_error is not None
    b.release()


def test_lock_released_behind_the_holders_back_is_noticed(lengine: Engine) -> None:
    a = _lease(lengine)
    assert a.held()
    assert a._conn is not None
    a._conn.execute(text("SELECT pg_advisory_unlock_all()"))
    assert not a.held()


def test_unreachable_database_is_not_holding() -> None:
    engine = lease_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    lease = _lease(engine)
    assert not lease.held()
    assert lease.last_error
    engine.dispose()


def test_standby_retries_are_rate_limited(lengine: Engine) -> None:
    now = [0.0]
    a = _lease(lengine)
    assert a.held()
    b = AdvisoryLease(lengine, "integrator", retry_s=1.0, clock=lambda: now[0])
    assert not b.held()
    a.release()
    assert not b.held()  # not asked again yet
    now[0] = 1.0
    assert b.held()
    b.release()
