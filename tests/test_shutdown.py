"""Stopping ``tollgate serve`` the ways operators do: a Ctrl-C in its terminal, or a service
manager's SIGTERM to every process of the service at once (systemd's KillMode=control-group).
The broker drains, its audit worker closes the log (publishing everything durable), and the
shutdown prints no traceback and no "audit worker lost", only JSON log lines."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import psutil
import pytest

from broker.audit.reader import LogReader
from tests.live import LiveBroker

BODY = {"tenant": "demo-us-commercial", "region": "aws-bedrock:us", "model": "anthropic.claude-opus-4-7"}


def _decide(broker: LiveBroker, n: int) -> list[str]:
    gw = broker.token("gateway")
    with httpx.Client(base_url=broker.url, headers={"authorization": f"Bearer {gw}"}) as client:
        answers = [client.post("/v1/preflight", json=BODY) for _ in range(n)]
    assert all(a.status_code == 200 for a in answers)
    return [a.json()["decision_id"] for a in answers]


@pytest.mark.parametrize("how", ["ctrl-c", "service-stop"])
def test_a_stop_signal_drains_and_closes_the_audit_log_cleanly(tmp_path: Path, how: str) -> None:
    broker = LiveBroker(tmp_path / "data", new_session=True).start()
    assert broker.proc is not None
    pid = broker.proc.pid
    try:
        workers = psutil.Process(pid).children()
        assert [w.cmdline()[2] for w in workers] == ["broker.audit.worker"]
        # The worker is not in the terminal's process group: a Ctrl-C there reaches the broker only.
        assert os.getpgid(workers[0].pid) != os.getpgid(pid)
        decided = _decide(broker, 20)
        if how == "ctrl-c":
            os.killpg(pid, signal.SIGINT)  # what the terminal does on Ctrl-C
            assert broker.proc.wait(timeout=60) == 0
        else:
            for p in (pid, workers[0].pid):
                os.kill(p, signal.SIGTERM)  # what systemd sends, to every process at once
            # uvicorn re-raises SIGTERM once its graceful shutdown is done; systemd counts an
            # exit by SIGTERM as a clean stop.
            assert broker.proc.wait(timeout=60) == -signal.SIGTERM
        workers[0].wait(timeout=10)  # the broker reaped it (an exit code other than 0 is logged)
    finally:
        broker.stop()
    out = (tmp_path / "data" / "broker.log").read_text()
    for bad in ("Traceback", "audit worker lost", "audit worker exited"):
        assert bad not in out, out
    # Every line, uvicorn's and alembic's too, is one JSON object (broker.logging).
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert "broker.started" in events and "broker.stopped" in events
    # The worker's close published every record before it exited (checkpoints are otherwise
    # only due every second): each decision is in the published log, found by its id.
    reader = LogReader.open(tmp_path / "data" / "audit")
    size = reader.checkpoint().size
    assert all(reader.find_decision(d) < size for d in decided)
