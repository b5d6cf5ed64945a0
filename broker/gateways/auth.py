"""Authenticating the *gateway* on dialect endpoints.

Envoy's raw-HTTP ext_authz forwards the end user's ``Authorization`` header (their credential to
the model provider), so the gateway's own Tollgate token travels in ``X-Tollgate-Authorization``
(Envoy: ``authorization_request.headers_to_add``). Dialects whose clients cannot add headers but
send their own credential (LiteLLM's ``api_key``, OPA clients' bearer) may use ``Authorization``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from broker.errors import AuthenticationFailed, BadRequest, Forbidden
from broker.security.principal import Principal
from broker.security.tokens import TokenVerifier

GATEWAY_HEADER = "x-tollgate-authorization"
GATEWAY_ROLES = frozenset({"gateway", "admin"})


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate_gateway(
    verifier: TokenVerifier, headers: Mapping[str, str], *, allow_authorization: bool
) -> Principal:
    """Verify the gateway's token and require the gateway (or admin) role."""
    token = _bearer(headers.get(GATEWAY_HEADER))
    if token is None and allow_authorization:
        token = _bearer(headers.get("authorization")) or headers.get("x-api-key") or None
    if token is None:
        where = GATEWAY_HEADER + (" or Authorization" if allow_authorization else "")
        raise AuthenticationFailed(f"a gateway bearer token is required in {where}", code="TOKEN_MISSING")
    principal = verifier.verify(token)
    if not principal.roles & GATEWAY_ROLES:
        raise Forbidden(
            f"gateway endpoints need the gateway role; token has {sorted(principal.roles)}", code="ROLE_FORBIDDEN"
        )
    return principal


async def gateway_json(request: Request) -> tuple[Principal, Any]:
    """Authenticate the gateway (``X-Tollgate-Authorization`` or ``Authorization``), then parse
    the JSON body; the caller checks its shape. Used by the dialects that post JSON documents."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    principal = authenticate_gateway(request.app.state.token_verifier, headers, allow_authorization=True)
    try:
        return principal, await request.json()
    except ValueError:
        raise BadRequest("request body is not JSON", code="BAD_JSON") from None
