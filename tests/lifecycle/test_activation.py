"""Atomic activation under load, rollback, scheduled activation (also across a restart)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from broker.decisions.snapshot import release_thread_engine
from broker.lifecycle.errors import InvalidTransition
from broker.lifecycle.scheduler import ActivationScheduler
from broker.lifecycle.states import State
from broker.lifecycle.store import utcnow
from tests.lifecycle.conftest import ALICE, Env, approve_flow, make_env, shipped_pack, suspended_allowed_pack
from tests.policy.fixture_registry import TIMES


def _inputs(env: Env) -> list[dict[str, Any]]:
    _, doc = env.registry.data_document(None)
    reg = doc["tollgate"]["registry"]
    pairs = sorted((t, m) for m, md in reg["models"].items() for t in md["deployments"])
    return [
        {"tenant": tn, "target": tg, "model": m, "subject": None, "now_ns": TIMES["now"]}
        for tn in sorted(reg["tenants"])
        for tg, m in pairs
    ]


def _answers(env: Env, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [env.activator.evaluate(i)[1] for i in inputs]


def test_activation_is_atomic_under_concurrent_load(sqlite_env: Env) -> None:
    env = sqlite_env
    v1 = approve_flow(env, shipped_pack())
    env.service.activate(v1, ALICE)
    v2 = approve_flow(env, suspended_allowed_pack())
    inputs = _inputs(env)
    expected = {v1: _answers(env, inputs)}
    stop = threading.Event()
    seen: list[tuple[str, int, dict[str, Any]]] = []
    errors: list[BaseException] = []
    kept: list[Any] = []

    def load() -> None:
        used: set[Any] = set()  # engines this thread evaluated on
        try:
            while not stop.is_set():
                for i, inp in enumerate(inputs):
                    used.add(env.activator.live.engine)
                    revision, decision = env.activator.evaluate(inp)
                    used.add(env.activator.live.engine)
                    seen.append((revision, i, decision))
        except BaseException as exc:
            errors.append(exc)
        finally:
            # A regorus engine must be freed on the thread that built it: free this thread's
            # now, and leave the last references to the main thread (which built the others).
            for engine in used:
                release_thread_engine(engine)
            kept.extend(used)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    env.service.activate(v2, ALICE)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    expected[v2] = _answers(env, inputs)
    assert expected[v1] != expected[v2]  # the change is visible
    revisions = {r for r, _, _ in seen}
    assert revisions == {v1, v2}
    # Every answer is exactly that revision's answer: no request saw a mix of the two.
    mismatched = [(r, i) for r, i, d in seen if d != expected[r][i]]
    assert not mismatched
    assert env.service.get(v1).state == State.SUPERSEDED and env.service.get(v2).state == State.ACTIVE


def test_rollback_restores_earlier_decisions_exactly(env: Env) -> None:
    v1 = approve_flow(env, shipped_pack())
    env.service.activate(v1, ALICE)
    inputs = _inputs(env)
    before = _answers(env, inputs)
    v2 = approve_flow(env, suspended_allowed_pack())
    env.service.activate(v2, ALICE)
    assert _answers(env, inputs) != before
    back = env.service.rollback(ALICE, reason="bad rule")
    assert back.id == v1 and back.state == State.ACTIVE
    assert env.activator.live.version_id == v1
    assert _answers(env, inputs) == before
    assert env.service.get(v2).state == State.SUPERSEDED
    assert env.audit[-1]["action"] == "rollback" and env.audit[-1]["previous"] == v2
    assert env.audit[-1]["reason"] == "bad rule"


def test_rollback_without_previous_is_409(sqlite_env: Env) -> None:
    with pytest.raises(InvalidTransition):
        sqlite_env.service.rollback(ALICE)
    v1 = approve_flow(sqlite_env, shipped_pack())
    sqlite_env.service.activate(v1, ALICE)
    with pytest.raises(InvalidTransition):
        sqlite_env.service.rollback(ALICE)


def test_failed_activation_changes_nothing(sqlite_env: Env) -> None:
    env = sqlite_env
    v1 = approve_flow(env, shipped_pack())
    env.service.activate(v1, ALICE)
    v2 = approve_flow(env, suspended_allowed_pack())

    class Refuses:
        def activate(self, *_: Any) -> None:
            raise RuntimeError("snapshot build failed")

    live = env.service.activator
    env.service.activator = Refuses()
    with pytest.raises(RuntimeError):
        env.service.activate(v2, ALICE)
    env.service.activator = live
    assert env.service.get(v2).state == State.APPROVED and env.service.active().id == v1  # type: ignore[union-attr]
    assert env.actions()[-1] != "activate"


def test_scheduled_activation_fires_and_survives_restart(db_url: str) -> None:
    env = make_env(db_url)
    v1 = approve_flow(env, shipped_pack())
    sched = env.service.schedule(v1, ALICE, at=utcnow() + timedelta(seconds=1))
    assert sched.status == "pending" and env.actions()[-1] == "schedule"
    # "Restart": a new service and activator over the same database pick the schedule up.
    env.store.engine.dispose()
    env2 = make_env(db_url)
    scheduler = ActivationScheduler(env2.service, interval_s=0.05)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and env2.service.get(v1).state != State.ACTIVE:
            time.sleep(0.05)
    finally:
        scheduler.stop()
    assert env2.service.get(v1).state == State.ACTIVE
    assert env2.activator.live.version_id == v1
    assert [s.status for s in env2.store.schedules()] == ["done"]
    assert env2.audit[-1]["action"] == "scheduled" and env2.audit[-1]["schedule_id"] == sched.id
    env2.store.engine.dispose()


def test_schedule_refuses_past_times_and_unapproved_versions(sqlite_env: Env) -> None:
    record, _ = sqlite_env.service.push(shipped_pack(), ALICE, message="x")
    with pytest.raises(InvalidTransition):
        sqlite_env.service.schedule(record.id, ALICE, at=utcnow() + timedelta(days=1))
    vid = approve_flow(sqlite_env, suspended_allowed_pack())
    with pytest.raises(Exception, match="future"):
        sqlite_env.service.schedule(vid, ALICE, at=utcnow() - timedelta(seconds=1))
