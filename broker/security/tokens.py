"""Bearer JWT verification (pyjwt) and development token minting.

The verifier accepts only an explicit allow-list of algorithms, chosen from the *key* and never
from the token alone: an asymmetric key is used only with its own algorithm, and HS256 is used only
with the configured shared secret. That closes ``alg: none`` and the classic HS256-with-public-key
confusion. ``exp``, ``iss``, ``aud`` and ``sub`` are required; ``nbf``/``iat`` are honoured with a
small leeway for clock skew.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import jwt

from broker.errors import AuthenticationFailed
from broker.security.jwks import KeySet
from broker.security.keys import DevTokenKey
from broker.security.principal import ROLES, Principal
from broker.security.tokens_constants import ACCEPTED_JWK_ALGORITHMS

ASYMMETRIC_ALGORITHMS = ACCEPTED_JWK_ALGORITHMS


class TokenVerifier:
    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str,
        leeway_s: int = 30,
        hs256_secret: str | None = None,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_s
        self._secret = hs256_secret
        # Verified tokens, memoised: a gateway sends the same token on every pre-flight, and an
        # EdDSA verify + base64 parsing costs ~250 µs, more than the decision itself. An entry is
        # used only before the token's ``exp`` and only while its kid still maps to the very
        # same key object (a rotated-out or revoked key invalidates it at once).
        self._memo: OrderedDict[str, tuple[Principal, float, Any]] = OrderedDict()
        self._memo_lock = threading.Lock()
        self.memo_size = 10_000

    @property
    def allowed_algorithms(self) -> frozenset[str]:
        return ASYMMETRIC_ALGORITHMS | ({"HS256"} if self._secret else set())

    def verify(self, token: str) -> Principal:
        hit = self._memo_get(token)
        if hit is not None:
            return hit
        return self._verify(token)

    def _memo_get(self, token: str) -> Principal | None:
        entry = self._memo.get(token)
        if entry is None:
            return None
        principal, exp, key = entry
        if time.time() >= exp or (
            principal.key_id is not None and (self._keys.get(principal.key_id) is not key)
        ):
            with self._memo_lock:
                self._memo.pop(token, None)
            return None
        return principal

    def _memo_put(self, token: str, principal: Principal, exp: Any, key: Any) -> None:
        if not isinstance(exp, int | float):
            return
        with self._memo_lock:
            self._memo[token] = (principal, float(exp), key)
            while len(self._memo) > self.memo_size:
                self._memo.popitem(last=False)

    def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"malformed token: {exc}", code="TOKEN_MALFORMED") from exc
        alg = header.get("alg")
        if alg not in self.allowed_algorithms:
            raise AuthenticationFailed(
                f"token algorithm {alg!r} is not accepted; accepted: {sorted(self.allowed_algorithms)}",
                code="TOKEN_ALG_NOT_ALLOWED",
            )
        kid = header.get("kid")
        key: Any
        if alg == "HS256":
            key = self._secret
        else:
            if not isinstance(kid, str) or not kid:
                raise AuthenticationFailed("token header has no 'kid'", code="TOKEN_UNKNOWN_KID")
            jwk = self._keys.get(kid)
            if jwk is None:
                raise AuthenticationFailed(f"unknown signing key id {kid!r}", code="TOKEN_UNKNOWN_KID")
            if jwk.algorithm_name != alg:
                # A key is only ever used with its own algorithm.
                raise AuthenticationFailed(
                    f"key {kid!r} is a {jwk.algorithm_name} key, token says {alg}",
                    code="TOKEN_ALG_NOT_ALLOWED",
                )
            key = jwk.key
        claims = self._decode(token, key, alg)
        principal = self._principal(claims, kid)
        if claims.get("nbf") is None or claims["nbf"] <= time.time():
            self._memo_put(token, principal, claims.get("exp"), jwk if alg != "HS256" else None)
        return principal

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationFailed("token has expired", code="TOKEN_EXPIRED") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthenticationFailed("token is not yet valid", code="TOKEN_NOT_YET_VALID") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthenticationFailed(f"token audience is not {self._audience!r}", code="TOKEN_BAD_AUDIENCE") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthenticationFailed(f"token issuer is not {self._issuer!r}", code="TOKEN_BAD_ISSUER") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationFailed(str(exc), code="TOKEN_MISSING_CLAIM") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthenticationFailed("token signature does not verify", code="TOKEN_BAD_SIGNATURE") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"invalid token: {exc}", code="TOKEN_INVALID") from exc
        return claims

    @staticmethod
    def _principal(claims: dict[str, Any], kid: str | None) -> Principal:
        roles = claims.get("roles", [])
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise AuthenticationFailed("'roles' claim must be a list of strings", code="TOKEN_INVALID")
        unknown = set(roles) - ROLES
        if unknown:
            raise AuthenticationFailed(f"unknown roles {sorted(unknown)}", code="TOKEN_INVALID")
        tenants = claims.get("tenants")
        if tenants is not None and (
            not isinstance(tenants, list) or not all(isinstance(t, str) for t in tenants)
        ):
            raise AuthenticationFailed("'tenants' claim must be a list of strings", code="TOKEN_INVALID")
        sub = claims["sub"]
        if not isinstance(sub, str) or not sub:
            raise AuthenticationFailed("'sub' claim must be a non-empty string", code="TOKEN_INVALID")
        return Principal(
            subject=sub,
            roles=frozenset(roles),
            tenants=frozenset(tenants) if tenants is not None else None,
            token_id=claims.get("jti") if isinstance(claims.get("jti"), str) else None,
            issuer=claims.get("iss"),
            key_id=kid,
        )


def issue_token(
    key: DevTokenKey,
    *,
    subject: str,
    roles: Iterable[str],
    issuer: str,
    audience: str,
    tenants: Iterable[str] | None = None,
    ttl_s: int = 3600,
    now: float | None = None,
) -> str:
    """Mint an EdDSA token with the development key (quick start and tests)."""
    roles = sorted(set(roles))
    unknown = set(roles) - ROLES
    if unknown or not roles:
        raise ValueError(f"roles must be a non-empty subset of {sorted(ROLES)}; got {roles}")
    if ttl_s <= 0:
        raise ValueError("ttl must be positive")
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "roles": roles,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    if tenants is not None:
        claims["tenants"] = sorted(set(tenants))
    return jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
