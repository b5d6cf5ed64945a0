"""The /v1/registry REST API over a real SQLite store, with authentication stubbed by roles."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from broker.http.errors import install_error_handlers
from broker.registry.api import router
from broker.registry.service import RegistryService
from broker.security.deps import authenticate
from broker.security.principal import Principal
from broker.storage.sql import SqlRegistryStore
from tests.storage.sample import SRC, model, sample_registry, tenant


def _principal(request: Request) -> Principal:
    """Test stand-in for token verification: roles come from a header (absent: 401 path)."""
    roles = request.headers.get("x-test-roles")
    if roles is None:
        from broker.errors import AuthenticationFailed

        raise AuthenticationFailed("a bearer token is required", code="TOKEN_MISSING")
    return Principal(subject=request.headers.get("x-test-sub", "officer-1"), roles=frozenset(roles.split(",")))


OFFICER = {"x-test-roles": "officer", "x-test-sub": "olivia"}
AUDITOR = {"x-test-roles": "auditor"}


@pytest.fixture
def client(service: RegistryService) -> TestClient:
    service.import_registry(sample_registry(25), "seed", "seed")
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.registry_service = service
    app.dependency_overrides[authenticate] = _principal
    return TestClient(app)


def body(entity: Any) -> dict[str, Any]:
    out: dict[str, Any] = entity.model_dump(mode="json")
    return out


def test_list_paginates_with_etag(client: TestClient) -> None:
    r = client.get("/v1/registry/tenants", params={"offset": 10, "limit": 5}, headers=AUDITOR)
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    data = r.json()
    assert (data["total"], data["revision"], len(data["items"])) == (25, 1, 5)
    assert data["items"][0]["id"] == "tenant-00010"
    assert client.get("/v1/registry/tenants?limit=501", headers=AUDITOR).status_code == 422
    assert client.get("/v1/registry/tenants?offset=-1", headers=AUDITOR).status_code == 422
    found = client.get("/v1/registry/jurisdictions", params={"q": "germ"}, headers=AUDITOR).json()
    assert [j["code"] for j in found["items"]] == ["DE"]
    for coll in ("models", "regions", "scopes", "providers"):
        assert client.get(f"/v1/registry/{coll}", headers=AUDITOR).json()["total"] > 0


def test_get_item_with_colon_and_revision(client: TestClient) -> None:
    r = client.get("/v1/registry/regions/aws:eu-central-1", headers=AUDITOR)
    assert r.status_code == 200 and r.json()["country"] == "DE"
    assert client.get("/v1/registry/scopes/aws-bedrock:eu", headers=AUDITOR).json()["members"]
    r = client.get("/v1/registry/tenants/nope", headers=AUDITOR)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    assert client.get("/v1/registry/tenants?revision=7", headers=AUDITOR).status_code == 404


def test_if_none_match_304(client: TestClient) -> None:
    r = client.get("/v1/registry/models", headers={**AUDITOR, "If-None-Match": '"1"'})
    assert r.status_code == 304 and r.headers["etag"] == '"1"'
    client.post("/v1/registry/tenants", json=body(tenant("new-co")), headers=OFFICER)
    r = client.get("/v1/registry/models", headers={**AUDITOR, "If-None-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    # A pinned past revision never changes, so its tag keeps matching.
    r = client.get("/v1/registry/models?revision=1", headers={**AUDITOR, "If-None-Match": 'W/"1"'})
    assert r.status_code == 304


def test_create_update_delete_make_revisions(
    client: TestClient, service: RegistryService, audit_log: list[dict[str, Any]]
) -> None:
    r = client.post("/v1/registry/tenants", json=body(tenant("acme")),
                    headers={**OFFICER, "X-Tollgate-Reason": "onboarding ticket 7"})
    assert r.status_code == 201 and r.headers["etag"] == '"2"'
    rev = r.json()["revision"]
    assert (rev["number"], rev["author"], rev["message"]) == (2, "olivia", "onboarding ticket 7")
    assert audit_log[-1]["actor"] == "olivia" and audit_log[-1]["revision"] == 2

    renamed = body(tenant("acme", name="Acme Europe"))
    r = client.put("/v1/registry/tenants/acme", json=renamed, headers={**OFFICER, "If-Match": '"2"'})
    assert r.status_code == 200 and r.json()["item"]["name"] == "Acme Europe"
    r = client.put("/v1/registry/tenants/acme", json=renamed, headers={**OFFICER, "If-Match": '"2"'})
    assert r.status_code == 412 and r.json()["error"]["code"] == "PRECONDITION_FAILED"
    assert client.put("/v1/registry/tenants/acme", json=renamed,
                      headers={**OFFICER, "If-Match": "yesterday"}).status_code == 400

    r = client.delete("/v1/registry/tenants/acme", params={"message": "offboarded"}, headers=OFFICER)
    assert r.status_code == 200 and r.json()["revision"]["message"] == "offboarded"
    assert client.get("/v1/registry/tenants/acme", headers=AUDITOR).status_code == 404
    assert client.get("/v1/registry/tenants/acme?revision=3", headers=AUDITOR).json()["name"] == "Acme Europe"

    hist = client.get("/v1/registry/revisions", params={"limit": 2}, headers=AUDITOR).json()
    assert hist["total"] == 4 and [i["number"] for i in hist["items"]] == [4, 3]
    assert client.get("/v1/registry/revisions/2", headers=AUDITOR).json()["author"] == "olivia"
    assert client.get("/v1/registry/revisions/99", headers=AUDITOR).status_code == 404
    d = client.get("/v1/registry/diff", params={"from": 1, "to": 3}, headers=AUDITOR).json()
    assert d["kinds"]["tenant"]["added"] == ["acme"]
    assert client.get("/v1/registry/diff", params={"from": 1, "to": 9}, headers=AUDITOR).status_code == 404
    assert service.head().number == 4  # type: ignore[union-attr]


def _bad_model(**update: Any) -> dict[str, Any]:
    data = body(model("x.new"))
    data.update(update)
    return data


BAD_INPUTS = [
    ("unknown country", "tenants", {**body(tenant("t-x")), "hq_country": "ZZ"}, 422, "unknown jurisdiction 'ZZ'"),
    ("malformed country", "tenants", {**body(tenant("t-x")), "hq_country": "Germany"}, 422, "hq_country"),
    ("dangling deployment", "models",
     _bad_model(deployments=[{"target": "aws:nowhere-1", "source": body(SRC)}]), 422,
     "unknown region or routing scope 'aws:nowhere-1'"),
    ("dangling provider", "models", _bad_model(provider="nobody"), 422, "unknown provider 'nobody'"),
    ("duplicate id", "tenants", body(tenant("tenant-00003")), 409, "already exists"),
    ("invalid dates", "models",
     _bad_model(export_restrictions=[{"id": "letter", "issued": "2026-06-12", "lifted": "2026-01-01",
                                      "source": body(SRC)}]), 422, "before 'issued'"),
    ("impossible date", "models",
     _bad_model(export_restrictions=[{"id": "letter", "issued": "2026-02-30", "source": body(SRC)}]), 422,
     "issued"),
    ("release windows out of order", "models",
     _bad_model(covered_frontier={"designated": True, "government_access": "2026-07-01T00:00:00Z",
                                  "public_release": "2026-06-01T00:00:00Z", "source": body(SRC)}), 422,
     "release windows out of order"),
    ("unknown field", "tenants", {**body(tenant("t-x")), "colour": "red"}, 422, "colour"),
]


@pytest.mark.parametrize(("case", "coll", "payload", "status", "needle"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_rejected_and_nothing_changes(
    client: TestClient, store: SqlRegistryStore, case: str, coll: str, payload: dict[str, Any], status: int,
    needle: str,
) -> None:
    before = store.head()
    r = client.post(f"/v1/registry/{coll}", json=payload, headers=OFFICER)
    assert r.status_code == status, r.text
    assert needle in r.text, r.text
    assert store.head() == before


def test_delete_still_referenced_is_422(client: TestClient, store: SqlRegistryStore) -> None:
    r = client.delete("/v1/registry/regions/aws:eu-central-1", headers=OFFICER)
    assert r.status_code == 422
    problem = r.json()["error"]["details"][0]
    assert (problem["kind"], problem["id"], problem["path"]) == ("scope", "aws-bedrock:eu", "members[0]")
    assert store.head().number == 1  # type: ignore[union-attr]


def test_put_id_mismatch_and_missing(client: TestClient) -> None:
    r = client.put("/v1/registry/tenants/tenant-00001", json=body(tenant("other")), headers=OFFICER)
    assert r.status_code == 422
    assert client.put("/v1/registry/tenants/nope", json=body(tenant("nope")), headers=OFFICER).status_code == 404


def test_roles(client: TestClient) -> None:
    new = body(tenant("role-co"))
    assert client.get("/v1/registry/tenants").status_code == 401
    r = client.post("/v1/registry/tenants", json=new, headers=AUDITOR)
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_FORBIDDEN"
    assert client.get("/v1/registry/tenants", headers={"x-test-roles": "gateway"}).status_code == 403
    assert client.delete("/v1/registry/tenants/tenant-00001", headers={"x-test-roles": "approver"}).status_code == 403
    assert client.post("/v1/registry/tenants", json=new, headers={"x-test-roles": "admin"}).status_code == 201


def test_openapi_documents_every_collection(client: TestClient) -> None:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    for coll in ("models", "tenants", "regions", "scopes", "jurisdictions", "providers"):
        assert f"/v1/registry/{coll}" in spec["paths"]
        assert f"/v1/registry/{coll}/{{key}}" in spec["paths"]
    assert "Tenant" in spec["components"]["schemas"]
