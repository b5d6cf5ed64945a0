"""Two real ``tollgate serve`` processes on one PostgreSQL schema, as two replicas.

One audit log: pre-flights sent to both verify offline in one export with every acknowledged
decision id in it. Killing the integrator (SIGKILL) lets the other take over and keep
publishing checkpoints consistent with the earlier ones. A registry write in one replica shows
in the other's decisions within about a second.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import tarfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from broker.audit.reader import LogReader
from broker.audit.storage.fs import FsLogStorage
from broker.audit.verify import verify_export
from broker.policy.pack import read_pack
from tests.live import LiveBroker
from tests.storage.pg import private_schema_url

pytestmark = pytest.mark.postgres

ALLOWED = {"tenant": "demo-us-commercial", "region": "aws-bedrock:us",
           "model": "anthropic.claude-opus-4-7"}


def _env(url: str) -> dict[str, str]:
    return {"TOLLGATE_DATABASE_URL": url, "TOLLGATE_AUDIT_CHECKPOINT_INTERVAL_S": "0.2"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveBroker, LiveBroker]]:
    with private_schema_url() as url:
        root = tmp_path_factory.mktemp("replicas")
        a = LiveBroker(root / "a", env=_env(url)).start()
        # Replicas share their secrets (log key, token key), as a mounted secret would.
        shutil.copytree(root / "a" / "keys", root / "b" / "keys")
        b = LiveBroker(root / "b", env=_env(url))
        try:
            b.start()
            yield a, b
        finally:
            b.stop()
            a.stop()


@pytest.fixture(scope="module")
def auth(pair: tuple[LiveBroker, LiveBroker]) -> dict[str, str]:
    token = pair[0].token("admin", "officer", "auditor", "gateway", subject="replica-test")
    return {"authorization": f"Bearer {token}"}


def _preflight(broker: LiveBroker, auth: dict[str, str]) -> dict[str, Any]:
    r = httpx.post(broker.url + "/v1/preflight", json=ALLOWED, headers=auth, timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _checkpoint(broker: LiveBroker, auth: dict[str, str]) -> tuple[int, bytes]:
    r = httpx.get(broker.url + "/v1/audit/checkpoint", headers=auth, timeout=10)
    assert r.status_code == 200, r.text
    return int(r.content.split(b"\n")[1]), r.content


def _until(cond: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not cond():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - started


def _wait_provable(broker: LiveBroker, auth: dict[str, str], decision_id: str) -> None:
    """Until the decision is in a published checkpoint, as seen by ``broker``'s own API (a
    follower's search index follows the integrator's checkpoints)."""
    _until(lambda: httpx.get(broker.url + "/v1/audit/proof/inclusion", headers=auth,
                             params={"decision_id": decision_id}).status_code == 200, 10.0)


def _export(broker: LiveBroker, auth: dict[str, str], out: Path) -> LogReader:
    r = httpx.get(broker.url + "/v1/audit/export", headers=auth, timeout=60)
    assert r.status_code == 200, r.text
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        tar.extractall(out, filter="data")
    top = next(p.parent for p in out.rglob("checkpoint"))
    return LogReader(FsLogStorage(top, durable=False))


def _decision_ids(reader: LogReader) -> set[str]:
    import json

    size = reader.checkpoint().size
    return {json.loads(e).get("decision_id") for e in reader.entries(0, size)} - {None}


def test_registry_write_reaches_the_other_replica(pair: tuple[LiveBroker, LiveBroker],
                                                  auth: dict[str, str]) -> None:
    a, b = pair
    before = _preflight(b, auth)["registry_revision"]
    tenant = httpx.get(a.url + "/v1/registry/tenants/" + ALLOWED["tenant"], headers=auth).json()
    tenant["name"] = f"{tenant.get('name', 'tenant')} (renamed {time.time():.0f})"
    r = httpx.put(a.url + "/v1/registry/tenants/" + ALLOWED["tenant"], json=tenant, headers=auth)
    assert r.status_code == 200, r.text
    written = time.monotonic()
    new = r.json()["revision"]["number"]
    assert new > before
    _until(lambda: _preflight(b, auth)["registry_revision"] == new, 5.0)
    took = time.monotonic() - written
    print(f"\nregistry write -> other replica's decisions: {took:.3f}s")
    assert took < 1.5


def test_decisions_from_both_land_in_one_verifiable_log(
        pair: tuple[LiveBroker, LiveBroker], auth: dict[str, str], tmp_path: Path) -> None:
    a, b = pair
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: _preflight((a, b)[i % 2], auth)["decision_id"], range(200)))
    # Indexes follow commit order, so once a later marker is published all 200 are too.
    _wait_provable(b, auth, _preflight(a, auth)["decision_id"])
    reader = _export(b, auth, tmp_path / "export")
    export_dir = reader.storage.root  # type: ignore[attr-defined]
    result = verify_export(export_dir)
    assert result.ok, result.verdict()
    missing = set(ids) - _decision_ids(reader)
    assert not missing, f"{len(missing)} acknowledged decisions missing from the log"


def _policy_call(broker: LiveBroker, path: str, token: str, body: dict[str, Any]) -> Any:
    r = httpx.post(broker.url + "/v1/policies" + path, json=body, timeout=60,
                   headers={"authorization": f"Bearer {token}"})
    assert r.status_code in (200, 201, 202), r.text
    return r.json()


def test_activation_reaches_the_other_replica(pair: tuple[LiveBroker, LiveBroker]) -> None:
    a, b = pair
    officer, approver = a.token("officer", subject="alice"), a.token("approver", subject="bob")
    gateway = {"authorization": f"Bearer {a.token('gateway')}"}
    pack = read_pack()
    files = {**pack.policies, **pack.tests}
    first = sorted(p for p in files if p.endswith(".rego"))[0]
    files[first] += "\n# replicas test: same rules, new version\n"
    vid = _policy_call(a, "", officer, {"files": files, "message": "replica test"})["version"]["id"]
    _policy_call(a, f"/{vid}/propose", officer, {})
    job = _policy_call(a, f"/{vid}/impact", officer, {"replay_days": 0})
    while job["status"] in ("queued", "running"):
        time.sleep(0.05)
        job = httpx.get(f"{a.url}/v1/policies/{vid}/impact/{job['id']}",
                        headers={"authorization": f"Bearer {officer}"}).json()
    assert job["status"] == "done", job
    _policy_call(a, f"/{vid}/approve", approver, {"impact_report_id": job["report_id"]})
    assert _preflight(b, gateway)["policy_revision"] != vid
    _policy_call(a, f"/{vid}/activate", officer, {})
    activated = time.monotonic()
    assert _preflight(a, gateway)["policy_revision"] == vid  # atomic in the activating replica
    _until(lambda: _preflight(b, gateway)["policy_revision"] == vid, 5.0)
    took = time.monotonic() - activated
    print(f"\nactivation -> other replica's decisions: {took:.3f}s")
    assert took < 1.5


def test_killing_the_integrator_hands_over(pair: tuple[LiveBroker, LiveBroker],
                                           auth: dict[str, str], tmp_path: Path) -> None:
    a, b = pair
    _preflight(a, auth)
    _until(lambda: _checkpoint(b, auth)[1] == _checkpoint(a, auth)[1], 5.0)
    size_before, trusted = _checkpoint(b, auth)
    assert a.proc is not None
    os.kill(a.proc.pid, signal.SIGKILL)  # A started first: it holds the integrator lease
    a.proc.wait()
    killed = time.monotonic()
    after = [_preflight(b, auth)["decision_id"] for _ in range(20)]  # sequencing never stopped
    _wait_provable(b, auth, after[-1])
    took = time.monotonic() - killed
    assert _checkpoint(b, auth)[0] >= size_before + 20
    print(f"\nSIGKILL of the integrator -> checkpoint with later records: {took:.2f}s")
    assert took < 5.0
    reader = _export(b, auth, tmp_path / "export")
    export_dir = reader.storage.root  # type: ignore[attr-defined]
    result = verify_export(export_dir, trusted_checkpoints=[("before-kill", trusted)])
    assert result.ok, result.verdict()
    assert set(after) <= _decision_ids(reader)
