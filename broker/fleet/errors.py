"""Fleet errors; all are :class:`~broker.errors.TollgateError` so the API maps them to bodies."""

from __future__ import annotations

from broker.errors import BadRequest, PayloadTooLarge, TollgateError, ValidationFailed


class BundleBuildError(ValidationFailed):
    """The active policy set cannot be expressed as a valid OPA bundle (roots, paths, data)."""

    code = "OPA_BUNDLE_INVALID"


class SigningKeyError(TollgateError):
    """The bundle signing key is missing, unreadable or does not fit the configured algorithm."""

    status = 500
    code = "OPA_SIGNING_KEY_INVALID"


class EventInvalid(BadRequest):
    """One event of a decision-log batch is malformed; ``details.index`` names it."""

    code = "OPA_EVENT_INVALID"


class UploadInvalid(BadRequest):
    """The upload body as a whole is not a (gzip) JSON array."""

    code = "OPA_UPLOAD_INVALID"


class UploadTooLarge(PayloadTooLarge):
    """The upload inflates beyond the configured bound (gzip bomb) or has too many events."""

    code = "OPA_UPLOAD_TOO_LARGE"


class StatusInvalid(BadRequest):
    code = "OPA_STATUS_INVALID"
