"""FastAPI dependencies: every endpoint declares the roles it accepts.

A missing or bad token is 401 (with ``WWW-Authenticate: Bearer``), a good token without an
accepted role is 403; both carry a machine-readable code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from broker.errors import AuthenticationFailed, Forbidden
from broker.security.principal import ROLES, Principal
from broker.security.tokens import TokenVerifier

_bearer = HTTPBearer(auto_error=False, description="JWT issued by the configured identity provider")


def get_verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("a bearer token is required", code="TOKEN_MISSING")
    principal = get_verifier(request).verify(credentials.credentials)
    request.state.principal = principal
    return principal


def require_roles(*roles: str) -> Callable[..., Principal]:
    """A dependency that authenticates the caller and checks it holds one of ``roles``."""
    unknown = set(roles) - ROLES
    if unknown or not roles:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    accepted = frozenset(roles)

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.roles & accepted:
            raise Forbidden(
                f"this endpoint needs one of the roles {sorted(accepted)}; token has {sorted(principal.roles)}",
                code="ROLE_FORBIDDEN",
            )
        return principal

    dependency.__name__ = "require_" + "_or_".join(sorted(accepted))
    return dependency
