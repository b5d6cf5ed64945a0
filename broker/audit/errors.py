"""Audit-log specific errors, all :class:`~broker.errors.TollgateError` subclasses."""

from __future__ import annotations

from broker.errors import AuditUnavailable, BadRequest, PayloadTooLarge, ValidationFailed


class InvalidProof(ValidationFailed):
    """A Merkle inclusion or consistency proof does not verify."""

    code = "AUDIT_PROOF_INVALID"


class InvalidNote(BadRequest):
    """A signed note, checkpoint, key or cosignature is malformed or fails verification."""

    code = "AUDIT_NOTE_INVALID"


class InvalidRecord(ValidationFailed):
    """A record handed to the log breaks the record schema."""

    code = "AUDIT_RECORD_INVALID"


class RecordTooLarge(PayloadTooLarge):
    """A record stays above 65,535 bytes even after moving payloads to blobs."""

    code = "AUDIT_RECORD_TOO_LARGE"


class LogCorrupt(AuditUnavailable):
    """Stored log data contradicts itself (a tile does not match its entries, ...)."""

    code = "AUDIT_LOG_CORRUPT"
