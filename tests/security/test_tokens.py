"""JWT verification: every token attack the foundation issue lists is refused with the right status."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Annotated, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from broker.http.errors import install_error_handlers
from broker.security.deps import require_roles
from broker.security.jwks import KeySet
from broker.security.keys import DevTokenKey, ensure_dev_token_key
from broker.security.principal import Principal
from broker.security.tokens import TokenVerifier, issue_token

ISS, AUD = "tollgate-test", "tollgate"


@pytest.fixture
def key(tmp_path: Path) -> DevTokenKey:
    return ensure_dev_token_key(tmp_path / "keys")


def make_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.token_verifier = verifier

    @app.get("/officer")
    def officer(p: Annotated[Principal, Depends(require_roles("officer", "admin"))]) -> dict[str, Any]:
        return {"sub": p.subject}

    @app.get("/gateway/{tenant}")
    def gateway(tenant: str, p: Annotated[Principal, Depends(require_roles("gateway"))]) -> dict[str, Any]:
        from broker.errors import Forbidden

        if not p.may_act_for(tenant):
            raise Forbidden(f"token may not act for tenant {tenant!r}", code="TENANT_FORBIDDEN")
        return {"tenant": tenant}

    return app


@pytest.fixture
def client(key: DevTokenKey) -> TestClient:
    verifier = TokenVerifier(KeySet(file=key.jwks_path), issuer=ISS, audience=AUD, leeway_s=5)
    return TestClient(make_app(verifier))


def token(key: DevTokenKey, roles: list[str] | None = None, **kw: Any) -> str:
    return issue_token(key, subject="alice", roles=roles or ["officer"], issuer=ISS, audience=AUD, **kw)


def raw_token(claims: dict[str, Any], signer: Any, alg: str, headers: dict[str, Any]) -> str:
    return jwt.encode(claims, signer, algorithm=alg, headers=headers)


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISS, "aud": AUD, "sub": "alice", "roles": ["officer"], "iat": now, "exp": now + 600}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def call(client: TestClient, tok: str | None, path: str = "/officer") -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {tok}"} if tok is not None else {}
    r = client.get(path, headers=headers)
    code = r.json().get("error", {}).get("code", "") if r.status_code >= 400 else ""
    return r.status_code, code


def test_valid_token_accepted(client: TestClient, key: DevTokenKey) -> None:
    assert call(client, token(key)) == (200, "")


def test_no_token(client: TestClient) -> None:
    r = client.get("/officer")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "TOKEN_MISSING"
    assert r.headers["www-authenticate"] == "Bearer"


def _b64(d: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("expired", (401, "TOKEN_EXPIRED")),
        ("not_yet_valid", (401, "TOKEN_NOT_YET_VALID")),
        ("wrong_aud", (401, "TOKEN_BAD_AUDIENCE")),
        ("wrong_iss", (401, "TOKEN_BAD_ISSUER")),
        ("no_exp", (401, "TOKEN_MISSING_CLAIM")),
        ("alg_none", (401, "TOKEN_ALG_NOT_ALLOWED")),
        ("hs256_with_public_key", (401, "TOKEN_ALG_NOT_ALLOWED")),
        ("unknown_kid", (401, "TOKEN_UNKNOWN_KID")),
        ("no_kid", (401, "TOKEN_UNKNOWN_KID")),
        ("tampered_roles", (401, "TOKEN_BAD_SIGNATURE")),
        ("garbage", (401, "TOKEN_MALFORMED")),
        ("unknown_role", (401, "TOKEN_INVALID")),
        ("wrong_role", (403, "ROLE_FORBIDDEN")),
    ],
)
def test_attacks_refused(client: TestClient, key: DevTokenKey, name: str, expected: tuple[int, str]) -> None:
    now = int(time.time())
    hdr = {"kid": key.kid}
    if name == "expired":
        tok = raw_token(claims(exp=now - 3600, iat=now - 7200), key.private, "EdDSA", hdr)
    elif name == "not_yet_valid":
        tok = raw_token(claims(nbf=now + 3600), key.private, "EdDSA", hdr)
    elif name == "wrong_aud":
        tok = raw_token(claims(aud="someone-else"), key.private, "EdDSA", hdr)
    elif name == "wrong_iss":
        tok = raw_token(claims(iss="evil"), key.private, "EdDSA", hdr)
    elif name == "no_exp":
        tok = raw_token(claims(exp=None), key.private, "EdDSA", hdr)
    elif name == "alg_none":
        tok = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{_b64(claims(roles=['admin']))}."
    elif name == "hs256_with_public_key":
        # The classic confusion: sign HS256 using the server's *public* key bytes as the secret.
        pub = key.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        import hashlib
        import hmac

        signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{_b64(claims())}"
        sig = hmac.new(pub, signing_input.encode(), hashlib.sha256).digest()
        tok = signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    elif name == "unknown_kid":
        tok = raw_token(claims(), key.private, "EdDSA", {"kid": "not-a-key"})
    elif name == "no_kid":
        tok = raw_token(claims(), key.private, "EdDSA", {})
    elif name == "tampered_roles":
        good = token(key, roles=["auditor"])
        h, _, s = good.split(".")
        body = jwt.decode(good, options={"verify_signature": False})
        body["roles"] = ["admin"]
        tok = f"{h}.{_b64(body)}.{s}"
    elif name == "garbage":
        tok = "not.a.jwt"
    elif name == "unknown_role":
        tok = raw_token(claims(roles=["superuser"]), key.private, "EdDSA", hdr)
    else:
        tok = token(key, roles=["auditor"])
    assert call(client, tok) == expected


def test_gateway_token_scoped_to_tenants(client: TestClient, key: DevTokenKey) -> None:
    tok = token(key, roles=["gateway"], tenants=["acme"])
    assert call(client, tok, "/gateway/acme") == (200, "")
    assert call(client, tok, "/gateway/globex") == (403, "TENANT_FORBIDDEN")
    unscoped = token(key, roles=["gateway"])
    assert call(client, unscoped, "/gateway/globex") == (200, "")


def test_clock_skew_tolerated(client: TestClient, key: DevTokenKey) -> None:
    now = int(time.time())
    tok = raw_token(claims(exp=now - 2, iat=now - 100), key.private, "EdDSA", {"kid": key.kid})
    assert call(client, tok)[0] == 200  # within the 5 s leeway


def test_hs256_only_with_configured_secret(key: DevTokenKey) -> None:
    secret = "s" * 40
    tok = raw_token(claims(), secret, "HS256", {})
    without = TestClient(make_app(TokenVerifier(KeySet(file=key.jwks_path), issuer=ISS, audience=AUD)))
    assert call(without, tok) == (401, "TOKEN_ALG_NOT_ALLOWED")
    with_secret = TestClient(
        make_app(TokenVerifier(KeySet(file=key.jwks_path), issuer=ISS, audience=AUD, hs256_secret=secret))
    )
    assert call(with_secret, tok) == (200, "")
    wrong = raw_token(claims(), "x" * 40, "HS256", {})
    assert call(with_secret, wrong) == (401, "TOKEN_BAD_SIGNATURE")


def _jwk_of(private: Any, kid: str, alg: str) -> dict[str, Any]:
    algo = jwt.get_algorithm_by_name(alg)
    jwk: dict[str, Any] = json.loads(algo.to_jwk(private.public_key()))
    jwk.update(kid=kid, alg=alg)
    return jwk


def test_es256_and_rs256_keys_by_kid_and_rotation_without_restart(tmp_path: Path) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [_jwk_of(ec_key, "ec-1", "ES256")]}))
    verifier = TokenVerifier(KeySet(file=jwks, refresh_s=0.0), issuer=ISS, audience=AUD)
    client = TestClient(make_app(verifier))
    assert call(client, raw_token(claims(), ec_key, "ES256", {"kid": "ec-1"})) == (200, "")
    rs_tok = raw_token(claims(), rsa_key, "RS256", {"kid": "rsa-2"})
    assert call(client, rs_tok) == (401, "TOKEN_UNKNOWN_KID")
    # Rotate: publish the new key; the running verifier picks it up without a restart.
    jwks.write_text(json.dumps({"keys": [_jwk_of(ec_key, "ec-1", "ES256"), _jwk_of(rsa_key, "rsa-2", "RS256")]}))
    import os

    os.utime(jwks, (time.time() + 5, time.time() + 5))
    assert call(client, rs_tok) == (200, "")
    # A key is only usable with its own algorithm: an RS256 key id on an ES256 token is refused.
    confused = raw_token(claims(), ec_key, "ES256", {"kid": "rsa-2"})
    assert call(client, confused) == (401, "TOKEN_ALG_NOT_ALLOWED")
    # Revocation: dropping a key from the JWKS refuses its tokens from then on.
    jwks.write_text(json.dumps({"keys": [_jwk_of(rsa_key, "rsa-2", "RS256")]}))
    os.utime(jwks, (time.time() + 10, time.time() + 10))
    assert call(client, raw_token(claims(), ec_key, "ES256", {"kid": "ec-1"})) == (401, "TOKEN_UNKNOWN_KID")


def test_symmetric_key_in_jwks_rejected(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}))
    with pytest.raises(ValueError, match="symmetric"):
        KeySet(file=jwks)


def test_issue_token_refuses_unknown_role(key: DevTokenKey) -> None:
    with pytest.raises(ValueError, match="roles"):
        token(key, roles=["root"])
