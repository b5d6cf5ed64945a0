"""API tests with FastAPI's TestClient; auth is overridden with a fixed Principal."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from broker.audit import api, merkle
from broker.audit.export import unpack_export
from broker.audit.log import AuditLog
from broker.audit.note import Ed25519Verifier
from broker.audit.proofs import verify_receipt
from broker.audit.verify import verify_export
from broker.http.errors import install_error_handlers
from broker.security.principal import Principal

from .conftest import LogFactory, make_decision

AUDITOR = Principal(subject="auditor-1", roles=frozenset({"auditor"}))
SCOPED = Principal(subject="auditor-2", roles=frozenset({"auditor"}),
                   tenants=frozenset({"acme"}))


@pytest.fixture
def log(make_log: LogFactory) -> AuditLog:
    log = make_log()
    log.append_many([make_decision(i, tenant="acme" if i % 2 else "globex")
                     for i in range(600)])
    log.wait_published(599)
    return log


def client_for(log: AuditLog, principal: Principal | None = AUDITOR) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.state.audit_log = log
    app.include_router(api.router)
    if principal is not None:
        app.dependency_overrides[api.require_auditor] = lambda: principal
    return TestClient(app)


def test_requires_token(log: AuditLog) -> None:
    resp = client_for(log, None).get("/v1/audit/checkpoint")
    assert resp.status_code == 401


def test_checkpoint_tiles_and_cache_headers(log: AuditLog) -> None:
    c = client_for(log)
    cp = c.get("/v1/audit/checkpoint")
    assert cp.status_code == 200 and cp.text.startswith("tollgate.test/audit\n600\n")
    assert cp.headers["cache-control"] == "no-cache"
    full = c.get("/v1/audit/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 8192
    assert "immutable" in full.headers["cache-control"]
    partial = c.get("/v1/audit/tile/0/002.p/88")
    assert partial.status_code == 200 and "immutable" not in partial.headers["cache-control"]
    assert c.get("/v1/audit/tile/entries/000").status_code == 200
    assert c.get("/v1/audit/tile/0/..%2F..%2Fkeys").status_code == 404
    assert c.get("/v1/audit/tile/0/999").status_code == 404
    assert c.get("/v1/audit/keys").text.startswith("tollgate.audit/key-history/v1\n")


def test_proofs(log: AuditLog) -> None:
    c = client_for(log)
    body = c.get("/v1/audit/proof/inclusion", params={"decision_id": "dec-77", "size": 300}).json()
    assert body["index"] == 77 and body["tree_size"] == 300
    root300 = log.tiles(300).root()
    merkle.verify_inclusion(77, 300, merkle.hash_leaf(log.entry(77)),
                            [base64.b64decode(h) for h in body["proof"]], root300)
    cons = c.get("/v1/audit/proof/consistency", params={"old": 300}).json()
    merkle.verify_consistency(300, 600, root300, log.checkpoint().root,
                              [base64.b64decode(h) for h in cons["proof"]])
    assert c.get("/v1/audit/proof/inclusion", params={"index": 5, "decision_id": "x"}
                 ).status_code == 400
    assert c.get("/v1/audit/proof/inclusion", params={"index": 700}).status_code == 400
    assert c.get("/v1/audit/proof/inclusion", params={"decision_id": "nope"}).status_code == 404
    assert c.get("/v1/audit/proof/consistency", params={"old": 0}).status_code == 422


def test_search_pagination_and_tenant_scope(log: AuditLog) -> None:
    c = client_for(log)
    page = c.get("/v1/audit/search", params={"tenant": "acme", "limit": 3}).json()
    assert [i["index"] for i in page["items"]] == [1, 3, 5] and page["next_after"] == 5
    page2 = c.get("/v1/audit/search", params={"tenant": "acme", "limit": 3, "after": 5}).json()
    assert page2["items"][0]["index"] == 7
    timed = c.get("/v1/audit/search", params={"since": "2026-01-01T00:00:10Z",
                                              "until": "2026-01-01T00:00:12Z"}).json()
    assert [i["index"] for i in timed["items"]] == [10, 11]
    assert c.get("/v1/audit/search", params={"since": "yesterday"}).status_code == 400
    scoped = client_for(log, SCOPED)
    assert scoped.get("/v1/audit/search", params={"tenant": "globex"}).status_code == 403
    items = scoped.get("/v1/audit/search", params={"limit": 1000}).json()["items"]
    assert items and all(i["record"]["tenant"] == "acme" for i in items)
    assert scoped.get("/v1/audit/tile/0/000").status_code == 403
    assert scoped.get("/v1/audit/receipt", params={"decision_id": "dec-2"}).status_code == 404
    assert scoped.get("/v1/audit/receipt", params={"decision_id": "dec-3"}).status_code == 200


def test_receipt(log: AuditLog) -> None:
    resp = client_for(log).get("/v1/audit/receipt", params={"decision_id": "dec-9"})
    assert resp.status_code == 200 and resp.text.startswith("c2sp.org/tlog-proof@v1\n")
    r, _, _ = verify_receipt(resp.content, [Ed25519Verifier.from_vkey(log.vkeys[0])])
    assert r.index == 9


def test_export_download_verifies(log: AuditLog, tmp_path: Path) -> None:
    resp = client_for(log).get("/v1/audit/export", params={"from": 100, "to": 300})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/gzip"
    assert "audit-tollgate.test_audit-100-300.tar.gz" in resp.headers["content-disposition"]
    tar = tmp_path / "x.tar.gz"
    tar.write_bytes(resp.content)
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as t:
        assert all(not m.name.startswith("/") for m in t.getmembers())
    root = unpack_export(tar, tmp_path / "u")
    result = verify_export(root, keys=log.vkeys)
    assert result.ok, result.verdict()
    log.wait_published(600)
    assert '"action":"log.export"' in log.entry(600).decode()
    assert client_for(log).get("/v1/audit/export", params={"from": 5, "to": 10_000}
                               ).status_code == 400


def test_log_not_configured() -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(api.router)
    app.dependency_overrides[api.require_auditor] = lambda: AUDITOR
    resp = TestClient(app).get("/v1/audit/checkpoint")
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "AUDIT_LOG_UNAVAILABLE"
