"""The /v1/policies API end to end with real tokens, and the CLI against it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from broker.http.errors import install_error_handlers
from broker.lifecycle import api, cli
from broker.lifecycle.jobs import JobRunner
from broker.lifecycle.scheduler import ActivationScheduler
from broker.lifecycle.shadow import ShadowEvaluator
from broker.lifecycle.wiring import Lifecycle
from broker.security.jwks import KeySet
from broker.security.keys import ensure_dev_token_key
from broker.security.tokens import TokenVerifier, issue_token
from tests.lifecycle.conftest import Env, make_env, shipped_pack, suspended_allowed_pack


@pytest.fixture
def app_env(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[TestClient, Env, dict[str, str]]]:
    env = make_env(sqlite_url)
    key = ensure_dev_token_key(tmp_path / "keys")
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(api.router)
    app.state.token_verifier = TokenVerifier(KeySet(file=key.jwks_path), issuer="tollgate-dev", audience="tollgate")
    lifecycle = Lifecycle(
        env.service, JobRunner(), ActivationScheduler(env.service, interval_s=0.05), ShadowEvaluator(env.service)
    )
    app.state.lifecycle = lifecycle
    lifecycle.start()

    def token(sub: str, *roles: str) -> str:
        return issue_token(key, subject=sub, roles=roles, issuer="tollgate-dev", audience="tollgate")

    tokens = {
        "alice": token("alice", "officer"),
        "bob": token("bob", "approver"),
        "aud": token("aud", "auditor"),
        "gw": token("gw", "gateway"),
    }
    with TestClient(app) as client:
        yield client, env, tokens
    lifecycle.stop()
    env.store.engine.dispose()


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _impact(client: TestClient, vid: str, tok: str) -> dict[str, Any]:
    job = client.post(f"/v1/policies/{vid}/impact", json={"replay_days": 0}, headers=_h(tok)).json()
    deadline = time.monotonic() + 60
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"/v1/policies/{vid}/impact/{job['id']}", headers=_h(tok)).json()
    assert job["status"] == "done", job
    result: dict[str, Any] = job
    return result


def test_api_flow_roles_and_errors(app_env: tuple[TestClient, Env, dict[str, str]]) -> None:
    client, _, t = app_env
    files = dict(shipped_pack().files)
    assert client.post("/v1/policies", json={"files": files, "message": "m"}).status_code == 401
    r = client.post("/v1/policies", json={"files": files, "message": "m"}, headers=_h(t["gw"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_FORBIDDEN"
    r = client.post("/v1/policies", json={"files": files, "message": "v1"}, headers=_h(t["alice"]))
    assert r.status_code == 201 and r.json()["version"]["validation"]["ok"]
    vid = r.json()["version"]["id"]
    assert (
        client.post("/v1/policies", json={"files": files, "message": "v1"}, headers=_h(t["alice"])).status_code == 200
    )
    r = client.post(f"/v1/policies/{vid}/approve", json={"impact_report_id": "x"}, headers=_h(t["bob"]))
    assert r.status_code == 409 and r.json()["error"]["code"] in ("INVALID_TRANSITION", "IMPACT_REPORT_REQUIRED")
    assert client.post(f"/v1/policies/{vid[:10]}/propose", json={}, headers=_h(t["alice"])).status_code == 200
    job = _impact(client, vid, t["alice"])
    assert job["progress"]["percent"] == 100.0
    r = client.post(f"/v1/policies/{vid}/approve", json={"impact_report_id": job["report_id"]}, headers=_h(t["alice"]))
    assert r.status_code == 403  # officer token: not an approver at all
    r = client.post(f"/v1/policies/{vid}/approve", json={"impact_report_id": job["report_id"]}, headers=_h(t["bob"]))
    assert r.status_code == 200 and r.json()["state"] == "approved"
    r = client.post(f"/v1/policies/{vid}/activate", json={}, headers=_h(t["alice"]))
    assert r.status_code == 200 and r.json()["activated"]["state"] == "active"
    assert client.get("/v1/policies/active", headers=_h(t["aud"])).json()["id"] == vid
    r = client.post(f"/v1/policies/{vid}/activate", json={}, headers=_h(t["alice"]))
    assert r.status_code == 409 and r.json()["error"]["code"] == "INVALID_TRANSITION"
    # A bad module: 201 as a draft with the located diagnostic, then 422 on propose.
    bad = dict(files)
    bad["tollgate/routing/main.rego"] += "\noops if {\n"
    r = client.post("/v1/policies", json={"files": bad, "message": "bad"}, headers=_h(t["alice"]))
    diag = r.json()["version"]["validation"]["compile"]["diagnostics"][0]
    assert diag["file"] == "tollgate/routing/main.rego" and diag["line"] > 30
    bad_id = r.json()["version"]["id"]
    r = client.post(f"/v1/policies/{bad_id}/propose", json={}, headers=_h(t["alice"]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "POLICY_VALIDATION_FAILED"
    assert r.json()["error"]["details"]["compile"]["diagnostics"][0]["line"] == diag["line"]
    log = client.get("/v1/policies/log", headers=_h(t["aud"])).json()["events"]
    assert [e["action"] for e in log][:5] == ["push", "activate", "approve", "impact", "propose"]
    openapi = client.get("/openapi.json").json()
    assert "/v1/policies/{ref}/approve" in openapi["paths"] and "/v1/policies/rollback" in openapi["paths"]


def test_shadow_mode_records_disagreements_without_touching_answers(
    app_env: tuple[TestClient, Env, dict[str, str]],
) -> None:
    client, env, t = app_env
    from tests.lifecycle.conftest import ALICE, BOB, approve_flow

    v1 = approve_flow(env, shipped_pack())
    env.service.activate(v1, ALICE)
    v2, _ = env.service.push(suspended_allowed_pack(), ALICE, message="v2")
    r = client.post(f"/v1/policies/{v2.id}/shadow", headers=_h(t["alice"]))
    assert r.status_code == 409  # only approved versions
    env.service.propose(v2.id, ALICE)
    env.service.approve(v2.id, BOB, impact_report_id=env.service.impact(v2.id, ALICE, replay_days=0)["id"])
    assert client.post(f"/v1/policies/{v2.id}/shadow", headers=_h(t["alice"])).json()["running"]
    _, doc = env.registry.data_document()
    reg = doc["tollgate"]["registry"]
    suspended = next(k for k, v in reg["tenants"].items() if v["suspended"])
    other = next(k for k, v in reg["tenants"].items() if not v["suspended"])
    model, m = next((k, v) for k, v in reg["models"].items() if v["deployments"])
    target = sorted(m["deployments"])[0]
    from tests.policy.fixture_registry import TIMES

    for tenant in (suspended, other, suspended):
        inp = {"tenant": tenant, "target": target, "model": model, "subject": None, "now_ns": TIMES["now"]}
        revision, answer = env.activator.evaluate(inp)
        env.service.shadow.observe(inp, answer | {"policy_revision": revision})
        assert revision == v1  # the live answer is the active version's
    env.service.shadow.flush()
    summary = client.get("/v1/policies/shadow", headers=_h(t["aud"])).json()
    assert summary["run"]["observed"] == 3 and summary["disagreements"] == 2
    assert summary["groups"][0]["tenant"] == suspended and summary["groups"][0]["count"] == 2
    shadow = env.service.shadow
    first = shadow._worker
    assert first is not None and first.is_alive()
    stopped = client.delete("/v1/policies/shadow", headers=_h(t["alice"])).json()
    assert not stopped["running"]
    assert [a for a in env.actions() if a.startswith("shadow")] == ["shadow.start", "shadow.stop"]
    # With no run the worker thread ends (freeing its engines on their own thread); a new run
    # starts a new one, and closing the lifecycle ends that one too.
    first.join(5)
    assert not first.is_alive() and shadow._worker is None
    assert client.post(f"/v1/policies/{v2.id}/shadow", headers=_h(t["alice"])).json()["running"]
    inp = {"tenant": suspended, "target": target, "model": model, "subject": None, "now_ns": TIMES["now"]}
    revision, answer = env.activator.evaluate(inp)
    shadow.observe(inp, answer | {"policy_revision": revision})
    shadow.flush()
    assert client.get("/v1/policies/shadow", headers=_h(t["aud"])).json()["run"]["observed"] == 1
    second = shadow._worker
    assert second is not None and second is not first and second.is_alive()
    shadow.close()
    assert not second.is_alive()


def test_cli_against_the_api(
    app_env: tuple[TestClient, Env, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, t = app_env

    def make_client(url: str, token: str) -> TestClient:
        client.headers["Authorization"] = f"Bearer {token}"
        return client

    class _NoClose:
        def __init__(self, inner: TestClient) -> None:
            self.inner = inner

        def __enter__(self) -> TestClient:
            return self.inner

        def __exit__(self, *_: object) -> None:
            return None

    monkeypatch.setattr(cli, "_make_client", lambda url, token: _NoClose(make_client(url, token)))
    runner = CliRunner()
    src = tmp_path / "pack"
    for rel, text in shipped_pack().files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    res = runner.invoke(cli.app, ["push", str(src), "-m", "from cli", "--token", t["alice"]])
    assert res.exit_code == 0, res.output
    vid = res.output.split()[0]
    assert "validation passed" in res.output
    assert runner.invoke(cli.app, ["propose", vid[:12], "--token", t["alice"]]).exit_code == 0
    res = runner.invoke(
        cli.app,
        [
            "impact",
            vid,
            "--format",
            "json",
            "--out",
            str(tmp_path / "r.json"),
            "--token",
            t["alice"],
            "--replay-days",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "r.json").read_text())
    res = runner.invoke(cli.app, ["approve", vid, "--impact", report["id"], "--token", t["alice"]])
    assert res.exit_code == 1 and "ROLE_FORBIDDEN" in res.output
    assert runner.invoke(cli.app, ["approve", vid, "--impact", report["id"], "--token", t["bob"]]).exit_code == 0
    assert runner.invoke(cli.app, ["activate", vid, "--token", t["alice"]]).exit_code == 0
    out = tmp_path / "pulled"
    assert runner.invoke(cli.app, ["pull", vid, "--out", str(out), "--token", t["aud"]]).exit_code == 0
    assert (out / "tollgate/routing/main.rego").read_text() == shipped_pack().files["tollgate/routing/main.rego"]
    res = runner.invoke(cli.app, ["log", "--token", t["aud"]])
    assert res.exit_code == 0 and f"* {vid[:12]} active" in res.output
