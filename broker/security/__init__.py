"""Authentication (bearer JWTs) and role checks. FastAPI dependencies live in ``deps``."""

from broker.security.principal import Principal, Role

__all__ = ["Principal", "Role"]
