"""Audit records: schema checks and canonical bytes.

A record is deterministic JSON (sorted keys, no whitespace, UTF-8, no NaN/Infinity), at most
65,535 bytes so it fits a tlog-tiles entry. Payload fields that would push a record over the
limit are stored beside the log as ``blobs/sha256/<hex>`` and replaced by
``{"sha256": <hex>, "size": <bytes>}``; the record's ``blobs`` list names the replaced fields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from broker.audit.errors import InvalidRecord, RecordTooLarge
from broker.audit.tiles import MAX_ENTRY_SIZE
from broker.canonical import CheckedRecord, InvalidJson
from broker.canonical import canonical_json as _canonical_json

RECORD_VERSION = 1
ADMIN_ACTIONS = frozenset({
    "registry.revision", "policy.draft", "policy.push", "policy.propose", "policy.approve",
    "policy.reject", "policy.withdraw", "policy.impact", "policy.activate", "policy.rollback",
    "policy.schedule", "policy.schedule.cancel", "policy.schedule.failed", "policy.shadow.start",
    "policy.shadow.stop", "key.rotate", "log.export",
})
_OFFLOADABLE = {"decision": ("input", "result"), "admin": ("details",)}

BlobSink = Callable[[str, bytes], None]


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes (see :mod:`broker.canonical`); :class:`InvalidRecord` for
    anything that is not plain JSON. Pre-encoded :class:`~broker.canonical.Canonical` parts of
    a record are spliced in, not encoded again."""
    try:
        return _canonical_json(value)
    except InvalidJson as exc:
        raise InvalidRecord(str(exc)) from None


def parse_time(value: Any, where: str = "time") -> datetime:
    """RFC 3339 timestamp with an explicit offset."""
    if not isinstance(value, str):
        raise InvalidRecord(f"{where} must be an RFC 3339 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRecord(f"{where} {value!r} is not an RFC 3339 timestamp") from exc
    if parsed.tzinfo is None:
        raise InvalidRecord(f"{where} {value!r} has no UTC offset")
    return parsed


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_DECISION_FIELDS: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("decision_id", str), ("input", dict), ("result", dict), ("engine", str),
    ("caller", dict), ("policy_revision", (str, int)), ("registry_revision", (str, int)))
_ADMIN_FIELDS: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("action", str), ("actor", str), ("subject", str), ("details", dict))


def _check_fields(rec: Mapping[str, Any], fields: tuple[tuple[str, Any], ...], where: str,
                  ) -> None:
    for key, kinds in fields:
        value = rec.get(key)
        if not isinstance(value, kinds) or value == "":
            if key not in rec:
                raise InvalidRecord(f"{where} is missing {key!r}")
            raise InvalidRecord(f"{where}: {key!r} has the wrong type or is empty")


def validate(rec: Mapping[str, Any]) -> float:
    """Check the record schema for its ``kind``; return its time as unix seconds.

    Raises :class:`InvalidRecord` naming the first problem.
    """
    # dict first: the ABC check costs a microsecond a record on the pre-flight path.
    if not isinstance(rec, dict) and not isinstance(rec, Mapping):
        raise InvalidRecord("a record must be a JSON object")
    if rec.get("v") != RECORD_VERSION:
        raise InvalidRecord(f"record version 'v' must be {RECORD_VERSION}")
    kind = rec.get("kind")
    ts = parse_time(rec.get("time")).timestamp()
    if kind == "decision":
        _check_fields(rec, _DECISION_FIELDS, "decision record")
        for opt in ("tenant", "model"):
            if opt in rec and not isinstance(rec[opt], str):
                raise InvalidRecord(f"{opt!r} must be a string")
        if "result" not in rec.get("blobs", ()):
            result = rec["result"]
            _check_fields(result, (("decision", str), ("reason_codes", list)), "result")
            if any(type(c) is not str for c in result["reason_codes"]):
                raise InvalidRecord("result.reason_codes must be a list of strings")
    elif kind == "admin":
        _check_fields(rec, _ADMIN_FIELDS, "admin record")
        if rec["action"] not in ADMIN_ACTIONS:
            raise InvalidRecord(f"unknown admin action {rec['action']!r}")
    else:
        raise InvalidRecord(f"unknown record kind {kind!r}")
    return ts


def decision_record(*, decision_id: str, input: Mapping[str, Any], result: Mapping[str, Any],
                    policy_revision: str | int, registry_revision: str | int, engine: str,
                    caller: Mapping[str, Any], tenant: str | None = None,
                    model: str | None = None, time: str | None = None) -> dict[str, Any]:
    """Build a decision record; ``result`` needs ``decision`` and ``reason_codes``."""
    rec: dict[str, Any] = {
        "v": RECORD_VERSION, "kind": "decision", "time": time or now_rfc3339(),
        "decision_id": decision_id, "input": dict(input), "result": dict(result),
        "policy_revision": policy_revision, "registry_revision": registry_revision,
        "engine": engine, "caller": dict(caller),
    }
    if tenant is not None:
        rec["tenant"] = tenant
    if model is not None:
        rec["model"] = model
    validate(rec)
    return rec


def admin_record(*, action: str, actor: str, subject: str, details: Mapping[str, Any],
                 time: str | None = None) -> dict[str, Any]:
    """Build an administrative-change record (``action`` from :data:`ADMIN_ACTIONS`)."""
    rec = {"v": RECORD_VERSION, "kind": "admin", "time": time or now_rfc3339(),
           "action": action, "actor": actor, "subject": subject, "details": dict(details)}
    validate(rec)
    return rec


def blob_path(digest_hex: str) -> str:
    return f"blobs/sha256/{digest_hex}"


def encode_record(rec: Mapping[str, Any], put_blob: BlobSink | None = None) -> bytes:
    """Validate and canonicalise; offload large payload fields through ``put_blob``."""
    return encode_with_index(rec, put_blob)[0]


def encode_with_index(rec: Mapping[str, Any], put_blob: BlobSink | None = None,
                      ) -> tuple[bytes, IndexFields]:
    """:func:`encode_record` plus the record's search-index fields, parsing the time once.

    A :class:`~broker.canonical.CheckedRecord` is taken as it is (its producer answers for
    the schema); only a record above the entry size limit is re-encoded, to move payloads out.
    """
    if type(rec) is CheckedRecord:
        fields = IndexFields(rec.index_keys[0], rec.time_s, *rec.index_keys[1:])
        data = rec.canonical
        return (data if len(data) <= MAX_ENTRY_SIZE else _encode(rec, put_blob)), fields
    ts = validate(rec)
    return _encode(rec, put_blob), index_fields_of(rec, ts)


def _encode(rec: Mapping[str, Any], put_blob: BlobSink | None) -> bytes:
    data = canonical_json(rec)
    if len(data) <= MAX_ENTRY_SIZE:
        return data
    if put_blob is None:
        raise RecordTooLarge(f"record is {len(data)} bytes, the limit is {MAX_ENTRY_SIZE}")
    work = dict(rec)
    fields = sorted((f for f in _OFFLOADABLE[work["kind"]] if f in work),
                    key=lambda f: -len(canonical_json(work[f])))
    offloaded: list[str] = []
    for f in fields:
        blob = canonical_json(work[f])
        digest = hashlib.sha256(blob).hexdigest()
        put_blob(digest, blob)
        work[f] = {"sha256": digest, "size": len(blob)}
        offloaded.append(f)
        work["blobs"] = sorted(offloaded)
        data = canonical_json(work)
        if len(data) <= MAX_ENTRY_SIZE:
            return data
    raise RecordTooLarge(f"record is {len(data)} bytes even with payloads stored as blobs")


class IndexFields(NamedTuple):
    """What the search index keeps per entry (a tuple: built once per appended record)."""

    kind: str
    time: float
    decision_id: str | None
    tenant: str | None
    model: str | None


def index_fields(entry: bytes) -> IndexFields:
    """Extract search keys from stored record bytes (tenant/model fall back to the input)."""
    try:
        rec = json.loads(entry)
    except ValueError as exc:
        raise InvalidRecord("stored entry is not JSON") from exc
    if not isinstance(rec, dict):
        raise InvalidRecord("stored entry is not a JSON object")
    return index_fields_of(rec)


def index_fields_of(rec: Mapping[str, Any], ts: float | None = None) -> IndexFields:
    """Search keys of a record given as a mapping; ``ts`` if its time is already parsed."""
    inp = rec.get("input")
    if not isinstance(inp, dict):
        inp = {}
    if ts is None:
        try:
            ts = parse_time(rec.get("time")).timestamp()
        except InvalidRecord:
            ts = 0.0
    found = []
    for key in ("decision_id", "tenant", "model"):
        v = rec.get(key, inp.get(key))
        found.append(v if isinstance(v, str) else None)
    return IndexFields(str(rec.get("kind", "")), ts, *found)


def admin_from_flat(flat: Mapping[str, Any], subject_key: str = "revision") -> dict[str, Any]:
    """Adapt a flat hook dict (``{"action", "actor", ...}``) to an admin record.

    ``subject`` is taken from ``flat["subject"]`` or else ``flat[subject_key]``; every other
    key goes into ``details``.
    """
    rest = {k: v for k, v in flat.items() if k not in ("action", "actor", "subject", "time")}
    subject = flat.get("subject", flat.get(subject_key, ""))
    return admin_record(action=str(flat.get("action", "")), actor=str(flat.get("actor", "")),
                        subject=str(subject) or "-", details=rest,
                        time=flat.get("time") if isinstance(flat.get("time"), str) else None)
