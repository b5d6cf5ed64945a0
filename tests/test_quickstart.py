"""The quick start as a user runs it: ``tollgate serve`` on embedded defaults, then a restart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.live import ROOT, LiveBroker


def test_serve_first_start_and_restart_reuse_state(tmp_path: Path) -> None:
    broker = LiveBroker(tmp_path / "data").start()
    try:
        ready = httpx.get(broker.url + "/readyz").json()
        assert ready["status"] == "ready"
        assert set(ready["checks"]) >= {"store", "policy", "audit_log"}
        assert httpx.get(broker.url + "/healthz").json() == {"status": "ok"}
        key_pem = (tmp_path / "data" / "keys" / "token-signing.pem").read_bytes()
        assert (tmp_path / "data" / "tollgate.db").exists()
        officer = broker.token("officer")
        head = httpx.get(broker.url + "/v1/registry/revisions", headers={"authorization": f"Bearer {officer}"}).json()
        assert head["items"][0]["number"] == 1 and head["items"][0]["author"] == "system"
        gw = broker.token("gateway")
        r = httpx.post(
            broker.url + "/v1/preflight",
            json={"tenant": "demo-us-commercial", "region": "aws-bedrock:us", "model": "anthropic.claude-opus-4-7"},
            headers={"authorization": f"Bearer {gw}"},
        )
        assert r.status_code == 200 and r.json()["allow"] is True
        first_policy = r.json()["policy_revision"]
    finally:
        broker.stop()

    again = LiveBroker(tmp_path / "data").start()
    try:
        # Development keys are generated once and reused; the catalog is not re-imported.
        assert (tmp_path / "data" / "keys" / "token-signing.pem").read_bytes() == key_pem
        head = httpx.get(again.url + "/v1/registry/revisions", headers={"authorization": f"Bearer {officer}"}).json()
        assert head["total"] == 1
        r = httpx.post(
            again.url + "/v1/preflight",
            json={"tenant": "demo-us-commercial", "region": "aws-bedrock:us", "model": "anthropic.claude-opus-4-7"},
            headers={"authorization": f"Bearer {gw}"},  # a token minted before the restart still works
        )
        assert r.status_code == 200 and r.json()["policy_revision"] == first_policy
    finally:
        again.stop()


def test_cli_help_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "broker.cli.main", "--help"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    for command in ("serve", "token", "registry", "policy", "audit", "engine"):
        assert command in out


def test_serve_with_a_bad_setting_says_which_and_exits_2(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "TOLLGATE_LOG_LEVEL": "loud", "TOLLGATE_DATA_DIR": str(tmp_path)}
    for command in (["serve"], ["token", "issue", "--role", "gateway"]):
        run = subprocess.run([sys.executable, "-m", "broker.cli.main", *command], check=False, cwd=ROOT, env=env,
                             capture_output=True, text=True)
        assert run.returncode == 2, run
        assert run.stderr.startswith("tollgate: invalid settings:\n  TOLLGATE_LOG_LEVEL: Input should be")
        assert "Traceback" not in run.stderr
    assert not any(tmp_path.iterdir())  # nothing was started or written
