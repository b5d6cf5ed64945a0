"""Lifecycle errors: each maps to a stable code and HTTP status through :mod:`broker.errors`."""

from __future__ import annotations

from typing import Any

from broker.errors import Conflict, Forbidden, NotFound, ValidationFailed


class InvalidTransition(Conflict):
    """The version is not in a state that allows this step (e.g. approving a draft)."""

    code = "INVALID_TRANSITION"


class SelfApproval(Forbidden):
    """Maker-checker: whoever wrote or proposed a version may not approve it."""

    code = "SELF_APPROVAL"


class VersionNotFound(NotFound):
    code = "POLICY_VERSION_NOT_FOUND"


class AmbiguousVersion(ValidationFailed):
    code = "POLICY_VERSION_AMBIGUOUS"


class InvalidPolicySet(ValidationFailed):
    """The uploaded files are not a policy set (no modules, bad paths, bad data JSON)."""

    code = "INVALID_POLICY_SET"


class ValidationBlocked(ValidationFailed):
    """Validation failed, so the version cannot be proposed. ``details`` carries the full report."""

    code = "POLICY_VALIDATION_FAILED"

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message, details=report)


class ImpactRequired(Conflict):
    """Approval must name the impact report the approver saw, and it must be current."""

    code = "IMPACT_REPORT_REQUIRED"
