"""Bundle signatures as OPA verifies them (v1/bundle/verify.go), and the signing key.

``.signatures.json`` is ``{"signatures": [<one compact JWS>]}``. The JWS payload lists every other
file of the bundle with its hex SHA-256, plus the deprecated ``keyid`` claim (read by OPAs that get
the key id neither from their config nor from the JWS ``kid`` header) and an optional ``scope``.

Why RS256 by default: it is the default of ``opa build --signing-alg`` and the algorithm of OPA's
own examples, so it is the best-trodden verification path; an asymmetric key means agents hold
only a public key and one compromised gateway cannot forge bundles for the others (HS* would);
and RSA PKCS#1 v1.5 signatures are deterministic, so the same policy set always yields the same
bundle bytes and ETag on every replica and after restarts. ES*/PS* signatures are randomised:
every rebuild would change the ETag and make the whole fleet download again. ES256/PS256 are
still accepted for operators who need them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from broker.fleet import canonical
from broker.fleet.errors import SigningKeyError
from broker.security.keys import write_private_key

SIGNATURES_FILE = ".signatures.json"
HASH_ALGORITHM = "SHA-256"
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1,
}
_RSA_BITS = 3072

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Base names OPA parses before hashing (``IsStructuredDoc``); every other file is hashed raw.
STRUCTURED_NAMES = frozenset({"data.json", "data.yaml", ".manifest"})


def file_hash(name: str, content: bytes) -> str:
    """Hex SHA-256 of a bundle file under OPA's rules."""
    if name.rsplit("/", 1)[-1] in STRUCTURED_NAMES:
        content = canonical.dumps(canonical.loads(content))
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class BundleSigner:
    key: PrivateKey
    key_id: str
    algorithm: str = "RS256"
    scope: str | None = None

    def __post_init__(self) -> None:
        check_key_fits(self.key, self.algorithm)
        if not self.key_id:
            raise SigningKeyError("the bundle signing key id must not be empty")

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def payload(self, files: Mapping[str, bytes]) -> dict[str, Any]:
        listed = [
            {"name": name, "hash": file_hash(name, content), "algorithm": HASH_ALGORITHM}
            for name, content in sorted(files.items())
        ]
        out: dict[str, Any] = {"files": listed, "keyid": self.key_id}
        if self.scope is not None:
            out["scope"] = self.scope
        # No "iat": it is informational for OPA and would make identical bundles differ.
        return out

    def sign(self, files: Mapping[str, bytes]) -> bytes:
        """The ``.signatures.json`` content covering ``files`` (name -> bytes, without itself)."""
        if SIGNATURES_FILE in files:
            raise ValueError(f"{SIGNATURES_FILE} cannot sign itself")
        token = jwt.api_jws.encode(
            canonical.dumps(self.payload(files)),
            self.key,
            algorithm=self.algorithm,
            headers={"kid": self.key_id},
        )
        return canonical.dumps({"signatures": [token]})


def check_key_fits(key: object, algorithm: str) -> None:
    if algorithm in RSA_ALGORITHMS:
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SigningKeyError(f"{algorithm} needs an RSA private key")
        if key.key_size < 2048:
            raise SigningKeyError("RSA bundle signing keys must have at least 2048 bits")
    elif algorithm in EC_CURVES:
        curve = EC_CURVES[algorithm]().name
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != curve:
            raise SigningKeyError(f"{algorithm} needs an EC private key on {curve}")
    else:
        supported = sorted(RSA_ALGORITHMS | set(EC_CURVES))
        raise SigningKeyError(
            f"unsupported bundle signing algorithm {algorithm!r}; use one of {supported} "
            "(HS* would hand every agent the forging secret)"
        )


def generate_key(algorithm: str) -> PrivateKey:
    if algorithm in EC_CURVES:
        return ec.generate_private_key(EC_CURVES[algorithm]())
    return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)


def public_key_path(private_path: Path) -> Path:
    """Where the public half is published for operators to paste into OPA's ``keys:``."""
    stem = private_path.name.removesuffix(".pem")
    return private_path.with_name(stem + ".pub.pem")


def load_private_key(path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"cannot load the bundle signing key {path}: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SigningKeyError(f"{path}: bundle signing keys must be RSA or EC")
    return key


def load_or_create_signer(
    path: Path, *, key_id: str, algorithm: str = "RS256", scope: str | None = None, create: bool = True
) -> BundleSigner:
    """Load the PEM private key at ``path``; with ``create`` make one (0600) if it is missing.

    The public key is (re)written next to it as ``<name>.pub.pem``.
    """
    if path.exists():
        key = load_private_key(path)
    elif create:
        key = generate_key(algorithm)
        write_private_key(path, key)
    else:
        raise SigningKeyError(f"the configured bundle signing key {path} does not exist")
    signer = BundleSigner(key, key_id, algorithm, scope)
    pub = public_key_path(path)
    pem = signer.public_pem()
    if not pub.exists() or pub.read_bytes() != pem:
        pub.write_bytes(pem)
    return signer

