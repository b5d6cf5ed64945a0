"""Who is calling: the verified identity and roles taken from a bearer token."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property


class Role(StrEnum):
    GATEWAY = "gateway"  # pre-flight only; may be scoped to a list of tenants
    OFFICER = "officer"  # edits registry and policies
    APPROVER = "approver"  # approves policy versions proposed by someone else
    AUDITOR = "auditor"  # reads the audit log
    MONITOR = "monitor"  # reads /metrics, nothing else (a scraper's long-lived token)
    ADMIN = "admin"


ROLES = frozenset(r.value for r in Role)


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    tenants: frozenset[str] | None = None  # None: not tenant-scoped
    token_id: str | None = None
    issuer: str | None = None
    key_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def may_act_for(self, tenant: str) -> bool:
        """Whether a (gateway) principal may ask about ``tenant``."""
        return self.tenants is None or tenant in self.tenants

    @cached_property
    def audit_identity(self) -> tuple[dict[str, object], bytes]:
        """:meth:`identity` and its canonical JSON, computed once per principal: the token
        verifier hands out the same Principal for a repeated token, and every pre-flight
        records its caller."""
        identity = self.identity()
        return identity, json.dumps(identity, sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=False).encode()

    def identity(self) -> dict[str, object]:
        """The caller as recorded in the audit log."""
        return {
            "sub": self.subject,
            "roles": sorted(self.roles),
            "iss": self.issuer,
            "kid": self.key_id,
            "jti": self.token_id,
        }
