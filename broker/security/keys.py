"""Development signing keys: generated on first start, reused afterwards.

Production deployments point ``TOLLGATE_JWKS_FILE``/``TOLLGATE_JWKS_URL`` at their identity
provider's keys and never use these. The development key pair is Ed25519 (JWT ``EdDSA``); its
public half is published as a JWKS file next to it, which is what the verifier reads, so rotating
a key is: add the new key to the JWKS, start minting with it, drop the old one later.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

TOKEN_KEY_FILE = "token-signing.pem"  # noqa: S105 - a file name, not a secret
JWKS_FILE = "jwks.json"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ed25519_kid(public: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint of an Ed25519 public key (stable, content-derived key id)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}, separators=(",", ":"))
    return _b64url(hashlib.sha256(members.encode()).digest())


def public_jwk(public: Ed25519PublicKey) -> dict[str, Any]:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw), "kid": ed25519_kid(public), "alg": "EdDSA", "use": "sig"}


def write_private_key(path: Path, key: PrivateKeyTypes) -> None:
    """Write a PEM private key (PKCS#8) readable by the owner only, atomically."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_or_create_ed25519(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: expected an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    write_private_key(path, key)
    return key


@dataclass(frozen=True)
class DevTokenKey:
    private: Ed25519PrivateKey
    kid: str
    jwks_path: Path


def ensure_dev_token_key(keys_dir: Path) -> DevTokenKey:
    """Load (or create on first start) the development token key and keep its JWKS current.

    An existing JWKS keeps its other keys, so operators can add a rotated key by hand.
    """
    key = load_or_create_ed25519(keys_dir / TOKEN_KEY_FILE)
    jwk = public_jwk(key.public_key())
    jwks_path = keys_dir / JWKS_FILE
    keys: list[dict[str, Any]] = []
    if jwks_path.exists():
        keys = [k for k in json.loads(jwks_path.read_text()).get("keys", []) if k.get("kid") != jwk["kid"]]
    keys.insert(0, jwk)
    tmp = jwks_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": keys}, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, jwks_path)
    return DevTokenKey(private=key, kid=jwk["kid"], jwks_path=jwks_path)
