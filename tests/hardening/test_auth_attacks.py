"""JWT attacks against the real endpoints, table-driven, and rate limiting of token bearers.

Every attack token is sent to every dialect that takes a bearer token (the pre-flight fast path,
FastAPI routes of each feature, Envoy ext_authz, the OPA-shape and LiteLLM endpoints, the OPA
bundle service) and must be refused with 401 and its specific code, or 403 where the token is
genuine but the act is not allowed.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from starlette.middleware import Middleware

from broker.http.ratelimit import RateLimitConfig, RateLimitMiddleware
from broker.security.keys import public_jwk
from tests.hardening.conftest import ALLOWED, InProcess, Minter, error_code, start_in_process

# (method, path, json body) for every dialect that accepts a bearer token.
ENDPOINTS: list[tuple[str, str, Any]] = [
    ("POST", "/v1/preflight", ALLOWED),
    ("POST", "/v1/preflight/batch", {"items": [ALLOWED]}),
    ("GET", f"/v1/tenants/{ALLOWED['tenant']}/routes?region={ALLOWED['region']}", None),
    ("GET", "/v1/registry/models?limit=1", None),
    ("POST", "/v1/registry/tenants", {"id": "attacker", "name": "x", "hq_country": "US"}),
    ("GET", "/v1/audit/checkpoint", None),
    ("GET", "/v1/audit/export", None),
    ("GET", "/v1/policies", None),
    ("POST", "/v1/policies/rollback", {"reason": "attack"}),
    ("POST", "/ext-authz/v1/chat", None),
    ("POST", "/v1/data/tollgate/routing/decision", {"input": ALLOWED}),
    ("POST", "/beta/litellm_basic_guardrail_api", {"input_type": "request", "model": ALLOWED["model"]}),
    ("GET", "/bundles/tollgate", None),
    ("GET", "/v1/fleet/agents", None),
]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), signature])


def _public_raw(m: Minter) -> bytes:
    return m.key.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _public_pem(m: Minter) -> bytes:
    return m.key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _tampered_roles(m: Minter) -> str:
    """A genuine gateway token whose payload is rewritten to claim admin; signature kept."""
    header, _, signature = m.token("gateway").split(".")
    claims = m.claims(roles=["admin", "officer", "auditor", "approver"], sub="hardening")
    return ".".join([header, _b64(json.dumps(claims).encode()), signature])


def _other_key_token(m: Minter, kid: str) -> str:
    return jwt.encode(m.claims(roles=["admin"]), Ed25519PrivateKey.generate(), algorithm="EdDSA",
                      headers={"kid": kid})


NOW = int(time.time())

# name -> (token builder, expected 401 code)
ATTACKS: dict[str, tuple[Callable[[Minter], str], str]] = {
    "alg-none": (lambda m: _unsigned({"alg": "none", "typ": "JWT", "kid": m.key.kid}, m.claims(roles=["admin"])),
                 "TOKEN_ALG_NOT_ALLOWED"),
    "alg-None-case": (lambda m: _unsigned({"alg": "None", "kid": m.key.kid}, m.claims(roles=["admin"])),
                      "TOKEN_ALG_NOT_ALLOWED"),
    "alg-none-with-sig": (lambda m: _unsigned({"alg": "none", "kid": m.key.kid}, m.claims(roles=["admin"]), "AAAA"),
                          "TOKEN_ALG_NOT_ALLOWED"),
    "hs256-public-key-raw": (lambda m: jwt.encode(m.claims(roles=["admin"]), _public_raw(m), algorithm="HS256",
                                                  headers={"kid": m.key.kid}), "TOKEN_ALG_NOT_ALLOWED"),
    "hs256-public-key-pem": (lambda m: _hs256_with(m, _public_pem(m)), "TOKEN_ALG_NOT_ALLOWED"),
    "hs256-public-jwk-json": (lambda m: _hs256_with(m, json.dumps(public_jwk(m.key.private.public_key())).encode()),
                              "TOKEN_ALG_NOT_ALLOWED"),
    "expired": (lambda m: m.token("admin", exp=NOW - 3600, iat=NOW - 7200, nbf=NOW - 7200), "TOKEN_EXPIRED"),
    "expired-beyond-leeway": (lambda m: m.token("admin", exp=NOW - 31, iat=NOW - 600, nbf=NOW - 600),
                              "TOKEN_EXPIRED"),
    "not-yet-valid": (lambda m: m.token("admin", nbf=NOW + 3600, iat=NOW), "TOKEN_NOT_YET_VALID"),
    "wrong-audience": (lambda m: m.token("admin", aud="another-service"), "TOKEN_BAD_AUDIENCE"),
    "audience-list-without-ours": (lambda m: m.token("admin", aud=["a", "b"]), "TOKEN_BAD_AUDIENCE"),
    "wrong-issuer": (lambda m: m.token("admin", iss="https://evil.example"), "TOKEN_BAD_ISSUER"),
    "no-exp": (lambda m: jwt.encode({k: v for k, v in m.claims(roles=["admin"]).items() if k != "exp"},
                                    m.key.private, algorithm="EdDSA", headers={"kid": m.key.kid}),
               "TOKEN_MISSING_CLAIM"),
    "unknown-kid": (lambda m: _other_key_token(m, "kid-nobody-published"), "TOKEN_UNKNOWN_KID"),
    "no-kid": (lambda m: jwt.encode(m.claims(roles=["admin"]), m.key.private, algorithm="EdDSA"),
               "TOKEN_UNKNOWN_KID"),
    "kid-of-real-key-other-signer": (lambda m: _other_key_token(m, m.key.kid), "TOKEN_BAD_SIGNATURE"),
    "role-escalation-by-tampering": (_tampered_roles, "TOKEN_BAD_SIGNATURE"),
    "unknown-role-claim": (lambda m: jwt.encode(m.claims(roles=["admin", "root"]), m.key.private,
                                                algorithm="EdDSA", headers={"kid": m.key.kid}), "TOKEN_INVALID"),
    "kid-path-traversal": (lambda m: _other_key_token(m, "../../keys/token-signing.pem"), "TOKEN_UNKNOWN_KID"),
    "garbage": (lambda m: "eyJhbGciOiJFZERTQSJ9.bm9wZQ.bm9wZQ", "TOKEN_INVALID"),
}


def _hs256_with(m: Minter, secret: bytes) -> str:
    # pyjwt refuses to HMAC with something that looks like a public key; forge by hand, as an
    # attacker would.
    import hashlib
    import hmac

    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": m.key.kid}).encode())
    payload = _b64(json.dumps(m.claims(roles=["admin"])).encode())
    sig = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(sig)}"


def _call(client: TestClient, method: str, path: str, body: Any, token: str) -> Any:
    headers = {"authorization": f"Bearer {token}", "x-tollgate-authorization": f"Bearer {token}"}
    if path.startswith("/ext-authz"):
        headers.update({"x-tollgate-tenant": ALLOWED["tenant"], "x-tollgate-region": ALLOWED["region"],
                        "x-tollgate-model": ALLOWED["model"]})
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_jwt_attack_is_refused_everywhere(broker: InProcess, attack: str) -> None:
    build, expected = ATTACKS[attack]
    token = build(broker.minter)
    for method, path, body in ENDPOINTS:
        r = _call(broker.client, method, path, body, token)
        assert r.status_code == 401, (attack, path, r.status_code, r.text[:300])
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer"), (attack, path)
        code = error_code(r)
        if attack == "garbage":
            assert code is not None and code.startswith("TOKEN_"), (path, r.text)
        else:
            assert code == expected, (attack, path, r.text[:300])


def test_hs256_with_public_key_refused_even_when_hs256_is_enabled(tmp_path: Path) -> None:
    """With a shared secret configured, HS256 is accepted, but only with *that* secret."""
    client, _, m = start_in_process(tmp_path, hs256_secret="s" * 40)
    with client:
        for name in ("hs256-public-key-raw", "hs256-public-key-pem", "hs256-public-jwk-json"):
            r = _call(client, "POST", "/v1/preflight", ALLOWED, ATTACKS[name][0](m))
            assert r.status_code == 401 and error_code(r) == "TOKEN_BAD_SIGNATURE", (name, r.text)
        good = jwt.encode(m.claims(roles=["gateway"]), "s" * 40, algorithm="HS256")
        assert _call(client, "POST", "/v1/preflight", ALLOWED, good).status_code == 200


def test_revoked_key_removed_from_jwks_is_refused(tmp_path: Path) -> None:
    """A second signing key is published, used, then removed: its tokens stop working within the
    JWKS refresh interval, including tokens the verifier had already memoised."""
    client, s, m = start_in_process(tmp_path, jwks_refresh_s=1)
    with client:
        extra = Ed25519PrivateKey.generate()
        jwk = public_jwk(extra.public_key())
        jwks = json.loads(s.keys_dir.joinpath("jwks.json").read_text())
        s.keys_dir.joinpath("jwks.json").write_text(json.dumps({"keys": [*jwks["keys"], jwk]}))
        time.sleep(1.1)
        token = jwt.encode(m.claims(roles=["gateway"]), extra, algorithm="EdDSA", headers={"kid": jwk["kid"]})
        assert _call(client, "POST", "/v1/preflight", ALLOWED, token).status_code == 200  # memoised now
        s.keys_dir.joinpath("jwks.json").write_text(json.dumps(jwks))
        time.sleep(1.1)
        for method, path, body in ENDPOINTS:
            r = _call(client, method, path, body, token)
            assert r.status_code == 401 and error_code(r) == "TOKEN_UNKNOWN_KID", (path, r.text[:200])
        # The remaining key is unaffected.
        assert _call(client, "POST", "/v1/preflight", ALLOWED, m.token("gateway")).status_code == 200


# --- genuine tokens, forbidden acts -----------------------------------------------------------


def test_wrong_role_is_403_on_every_feature(broker: InProcess) -> None:
    m = broker.minter
    cases = [
        ("auditor", "POST", "/v1/preflight", ALLOWED),  # auditors must not create decision records
        ("approver", "POST", "/v1/preflight/batch", {"items": [ALLOWED]}),
        ("gateway", "GET", "/v1/registry/models", None),
        ("gateway", "POST", "/v1/registry/tenants", {"id": "x", "name": "x", "hq_country": "US"}),
        ("auditor", "POST", "/v1/registry/tenants", {"id": "x", "name": "x", "hq_country": "US"}),
        ("gateway", "GET", "/v1/audit/checkpoint", None),
        ("officer", "GET", "/v1/audit/export", None),
        ("gateway", "GET", "/v1/policies", None),
        ("auditor", "POST", "/v1/policies/rollback", {"reason": "x"}),
        ("officer", "GET", "/bundles/tollgate", None),
    ]
    for role, method, path, body in cases:
        r = _call(broker.client, method, path, body, m.token(role))
        assert r.status_code == 403 and error_code(r) == "ROLE_FORBIDDEN", (role, path, r.text[:200])


def test_gateway_token_scoped_to_a_tenant_cannot_ask_for_another(broker: InProcess) -> None:
    m = broker.minter
    token = m.token("gateway", tenants=["demo-de-eu-resident"])
    other = ALLOWED  # demo-us-commercial
    r = _call(broker.client, "POST", "/v1/preflight", other, token)
    assert r.status_code == 403 and error_code(r) == "TENANT_FORBIDDEN", r.text
    r = _call(broker.client, "POST", "/v1/preflight/batch", {"items": [other]}, token)
    assert r.status_code == 200 and r.json()["items"][0]["status"] == 403
    assert r.json()["items"][0]["error"]["code"] == "TENANT_FORBIDDEN"
    r = _call(broker.client, "GET", f"/v1/tenants/{other['tenant']}/routes?region={other['region']}", None, token)
    assert r.status_code == 403
    for path, body in (("/ext-authz/v1/chat", None), ("/v1/data/tollgate/routing/decision", {"input": other}),
                       ("/beta/litellm_basic_guardrail_api",
                        {"input_type": "request", "model": other["model"],
                         "additional_provider_specific_params": {"tenant": other["tenant"],
                                                                  "serving_region": other["region"]}})):
        r = _call(broker.client, "POST", path, body, token)
        assert r.status_code == 403 or (r.status_code == 200 and _is_block(r.json())), (path, r.text[:300])
    # A tenant claim is honoured for staff roles too, and in the audit log.
    officer = m.token("officer", "auditor", tenants=["demo-de-eu-resident"])
    assert _call(broker.client, "POST", "/v1/preflight", other, officer).status_code == 403
    r = _call(broker.client, "GET", f"/v1/audit/search?tenant={other['tenant']}", None, officer)
    assert r.status_code == 403
    assert _call(broker.client, "GET", "/v1/audit/export", None, officer).status_code == 403


def _is_block(body: dict[str, Any]) -> bool:
    result = body.get("result", body)
    return result.get("allow") is False or body.get("action") == "BLOCKED"


def test_officer_cannot_approve_own_policy_version(broker: InProcess) -> None:
    m = broker.minter
    active = broker.client.get("/v1/policies/active", headers=broker.auth("officer")).json()
    vid = active.get("id") or active.get("version", {}).get("id")
    files = broker.client.get(f"/v1/policies/{vid}/files", headers=broker.auth("officer")).json()
    files = files.get("files", files)
    # A changed comment makes a new content-addressed version.
    first = sorted(p for p in files if p.endswith(".rego") and not p.endswith("_test.rego"))[0]
    files = {**files, first: files[first] + "\n# hardening: self-approval attempt\n"}
    maker = m.token("officer", "approver", subject="mallory")  # holds both roles
    r = broker.client.post("/v1/policies", json={"files": files, "message": "mine"},
                           headers={"authorization": f"Bearer {maker}"})
    assert r.status_code in (200, 201), r.text[:300]
    new = r.json().get("id") or r.json()["version"]["id"]
    h = {"authorization": f"Bearer {maker}"}
    assert broker.client.post(f"/v1/policies/{new}/propose", json={}, headers=h).status_code == 200
    job = broker.client.post(f"/v1/policies/{new}/impact", json={"replay_days": 0}, headers=h).json()
    deadline = time.monotonic() + 120
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = broker.client.get(f"/v1/policies/{new}/impact/{job['id']}", headers=h).json()
    assert job["status"] == "done", job
    r = broker.client.post(f"/v1/policies/{new}/approve", json={"impact_report_id": job["report_id"]}, headers=h)
    assert r.status_code == 403 and error_code(r) == "SELF_APPROVAL", r.text[:300]
    # The same person with a fresh token (another jti) is still the same person.
    again = m.token("approver", subject="mallory")
    r = broker.client.post(f"/v1/policies/{new}/approve", json={"impact_report_id": job["report_id"]},
                           headers={"authorization": f"Bearer {again}"})
    assert r.status_code == 403 and error_code(r) == "SELF_APPROVAL"
    # An activation without approval is refused as well.
    r = broker.client.post(f"/v1/policies/{new}/activate", json={}, headers=h)
    assert r.status_code in (403, 409) and error_code(r) is not None


# --- rate limiting ----------------------------------------------------------------------------


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[InProcess, RateLimitConfig]]:
    # A slow refill (2/s), so a loaded CI machine cannot refill the bucket between requests.
    config = RateLimitConfig(principal_rate=2.0, principal_burst=40.0, failure_rate=1.0, failure_burst=10.0)
    client, s, m = start_in_process(tmp_path)
    app: Any = client.app
    app.state.rate_limit = config
    with_limiter(app)
    with client:
        yield InProcess(client, s, m), config


def with_limiter(app: Any) -> None:
    """Install the limiter inside the request-context middleware (so a 429 still carries a
    request id) and outside the pre-flight fast path (so the hot path is limited too)."""
    names = [mw.cls.__name__ for mw in app.user_middleware]
    if "RateLimitMiddleware" not in names:
        at = names.index("RequestContextMiddleware") + 1
        app.user_middleware.insert(at, Middleware(RateLimitMiddleware))


def test_principal_is_limited_with_429_and_retry_after(limited: tuple[InProcess, RateLimitConfig]) -> None:
    broker, config = limited
    h = broker.auth("gateway", subject="greedy")
    statuses = [broker.client.post("/v1/preflight", json=ALLOWED, headers=h).status_code for _ in range(80)]
    assert statuses.count(200) >= config.principal_burst - 2
    assert 429 in statuses
    r = broker.client.post("/v1/preflight", json=ALLOWED, headers=h)
    assert r.status_code == 429 and error_code(r) == "RATE_LIMITED"
    assert int(r.headers["retry-after"]) >= 1 and r.headers.get("x-request-id")
    assert r.content == json.dumps(r.json(), separators=(",", ":")).encode()  # FastAPI's format
    # Another principal is not affected, on any endpoint.
    assert broker.client.post("/v1/preflight", json=ALLOWED, headers=broker.auth("gateway", subject="polite")
                              ).status_code == 200
    assert broker.client.get("/v1/registry/models?limit=1", headers=broker.auth("officer")).status_code == 200
    time.sleep(2 / config.principal_rate + 0.1)  # the bucket refills
    assert broker.client.post("/v1/preflight", json=ALLOWED, headers=h).status_code == 200


def test_authentication_failures_are_limited_per_address(limited: tuple[InProcess, RateLimitConfig]) -> None:
    broker, config = limited
    bad = {"authorization": "Bearer " + ATTACKS["unknown-kid"][0](broker.minter)}
    statuses = [broker.client.post("/v1/preflight", json=ALLOWED, headers=bad).status_code for _ in range(30)]
    assert statuses[: int(config.failure_burst)] == [401] * int(config.failure_burst)
    assert statuses[-1] == 429
    r = broker.client.get("/v1/audit/checkpoint", headers=bad)  # every token-bearing endpoint
    assert r.status_code == 429 and error_code(r) == "RATE_LIMITED" and "retry-after" in r.headers
    r = broker.client.get("/v1/audit/checkpoint")  # no token at all: a cheap 401, never throttled
    assert r.status_code == 401
    # A caller with a valid token from the same address is not locked out by the attacker,
    # and neither are health probes or the OpenAPI document.
    assert broker.client.post("/v1/preflight", json=ALLOWED, headers=broker.auth("gateway")).status_code == 200
    assert broker.client.get("/healthz").status_code == 200
    assert broker.client.get("/openapi.json").status_code == 200


def test_limiter_overhead_per_request(tmp_path: Path) -> None:
    """The middleware alone around a no-op app, with the real verifier and a memoised token:
    what the limiter adds to every pre-flight (printed; bounded generously for slow CI)."""
    import asyncio

    from broker.security.jwks import KeySet
    from broker.security.keys import ensure_dev_token_key
    from broker.security.tokens import TokenVerifier

    key = ensure_dev_token_key(tmp_path)
    verifier = TokenVerifier(KeySet(file=key.jwks_path), issuer="i", audience="a")
    token = Minter(key, "i", "a").token("gateway")
    verifier.verify(token)

    class State:
        token_verifier = verifier
        rate_limit = RateLimitConfig(principal_rate=1e9, principal_burst=1e9)

    class App:
        state = State()

    async def noop(scope: Any, receive: Any, send: Any) -> None:
        return None

    limited = RateLimitMiddleware(noop)
    scope = {"type": "http", "app": App(), "client": ("127.0.0.1", 1),
             "headers": [(b"authorization", f"Bearer {token}".encode())]}

    async def run(app: Any, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            await app(scope, noop, noop)
        return (time.perf_counter() - t0) / n

    base = min(asyncio.run(run(noop, 20_000)) for _ in range(3))
    cost = min(asyncio.run(run(limited, 20_000)) for _ in range(3)) - base
    print(f"rate limiter: {cost * 1e6:.2f} µs per request (token verify memo hit included)")
    assert cost < 25e-6
