"""Every error the broker reports, with a stable machine-readable code.

The API layer turns a :class:`TollgateError` into ``{"error": {"code", "message", "details"}}``
with the error's HTTP status; the CLI prints the message and exits non-zero. Nothing here knows
about FastAPI, so the domain and storage layers can raise these freely.
"""

from __future__ import annotations

from typing import Any


class TollgateError(Exception):
    """Base class. ``code`` is a stable UPPER_SNAKE identifier clients can switch on."""

    status: int = 500
    code: str = "INTERNAL_ERROR"

    def __init__(
        self, message: str, *, code: str | None = None, details: Any = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class BadRequest(TollgateError):
    status = 400
    code = "BAD_REQUEST"


class ValidationFailed(TollgateError):
    """Input is well-formed JSON but breaks a rule (unknown reference, dates out of order, ...)."""

    status = 422
    code = "VALIDATION_FAILED"


class AuthenticationFailed(TollgateError):
    status = 401
    code = "UNAUTHENTICATED"


class Forbidden(TollgateError):
    status = 403
    code = "FORBIDDEN"


class NotFound(TollgateError):
    status = 404
    code = "NOT_FOUND"


class Conflict(TollgateError):
    status = 409
    code = "CONFLICT"


class PreconditionFailed(TollgateError):
    status = 412
    code = "PRECONDITION_FAILED"


class PayloadTooLarge(TollgateError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class TooManyRequests(TollgateError):
    status = 429
    code = "RATE_LIMITED"


class Unavailable(TollgateError):
    """A dependency (store, engine, audit log) failed. Never turned into an allow."""

    status = 503
    code = "UNAVAILABLE"


class StoreUnavailable(Unavailable):
    code = "STORE_UNAVAILABLE"


class EngineFailure(Unavailable):
    code = "ENGINE_FAILURE"


class AuditUnavailable(Unavailable):
    code = "AUDIT_LOG_UNAVAILABLE"
