"""OPA decision-log uploads into the audit log (OPA pushes ``POST /logs``: a gzip JSON array).

Rules (plugins/logs): any 2xx means "stored", after which OPA forgets the chunk; anything else
makes it re-send the chunk later. Hence:

* 2xx only once every new event of the batch is durably in the audit log, and the decision ids
  are durably in the idempotency set (store.py);
* a re-sent event (same ``decision_id``) is acknowledged and not appended twice;
* the whole batch is validated before anything is appended, so a 400 leaves nothing half-stored;
* the inflated size is bounded while inflating, so a gzip bomb costs at most the bound.

One OPA event becomes one ``kind: decision`` audit record: ``input``/``result`` at the top level
where they have the shape the audit schema wants, everything else of the event (labels, bundles,
path, metrics, headers, ...) kept verbatim under ``opa.event``, so the original event can be
rebuilt exactly from the record.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from broker.audit.errors import InvalidRecord
from broker.audit.records import RECORD_VERSION, canonical_json, validate
from broker.errors import AuditUnavailable, Forbidden, TollgateError
from broker.fleet.bundle import split_revision
from broker.fleet.errors import EventInvalid, UploadInvalid, UploadTooLarge
from broker.fleet.store import FleetStore

_MAX_ID = 256
_EVENT_BUDGET = 48 * 1024  # keep the non-offloadable part of a record well below 64 KiB


class AuditAppender(Protocol):
    def append(self, record: Mapping[str, Any]) -> int: ...


@dataclass(frozen=True)
class IngestResult:
    received: int
    appended: int
    duplicates: int


def inflate(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The upload body, gunzipped if ``Content-Encoding: gzip``; at most ``max_bytes``."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > max_bytes:
            raise UploadTooLarge(f"decision-log upload exceeds {max_bytes} bytes")
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise UploadInvalid(f"unsupported Content-Encoding {content_encoding!r}; OPA sends gzip")
    out = bytearray()
    data = body
    try:
        while data:  # a gzip stream may hold several members
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while data:
                out += d.decompress(data, max_bytes + 1 - len(out))
                if len(out) > max_bytes:
                    raise UploadTooLarge(f"decision-log upload inflates beyond {max_bytes} bytes")
                data = d.unconsumed_tail
                if d.eof:
                    break
            if not d.eof:
                raise UploadInvalid("truncated gzip body")
            data = d.unused_data
    except zlib.error as exc:
        raise UploadInvalid(f"body is not valid gzip: {exc}") from exc
    return bytes(out)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_events(raw: bytes, max_events: int) -> list[dict[str, Any]]:
    try:
        doc = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UploadInvalid(f"body is not JSON: {exc}") from exc
    if not isinstance(doc, list):
        raise UploadInvalid("body must be a JSON array of decision events")
    if len(doc) > max_events:
        raise UploadTooLarge(f"{len(doc)} events in one upload; the limit is {max_events}")
    events = []
    for i, ev in enumerate(doc):
        if not isinstance(ev, dict):
            raise EventInvalid(f"event {i}: must be a JSON object", details={"index": i})
        events.append(ev)
    return events


def _bad(index: int, problem: str, ev: Mapping[str, Any]) -> EventInvalid:
    did = ev.get("decision_id")
    return EventInvalid(
        f"event {index}: {problem}",
        details={"index": index, "decision_id": did if isinstance(did, str) else None, "problem": problem},
    )


def _revisions(ev: Mapping[str, Any], bundle_name: str) -> tuple[str, str | int]:
    bundles = ev.get("bundles")
    entry = bundles.get(bundle_name) if isinstance(bundles, dict) else None
    revision = entry.get("revision") if isinstance(entry, dict) else None
    parsed = split_revision(revision) if isinstance(revision, str) else None
    if parsed is None:
        # The agent had no Tollgate bundle active (or a foreign one): record that plainly.
        return (revision if isinstance(revision, str) and revision else "none"), "none"
    return parsed


def _result(ev: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """(audit result, whether OPA's own result is that object)."""
    raw = ev.get("result")
    if (
        isinstance(raw, dict)
        and isinstance(raw.get("decision"), str)
        and isinstance(raw.get("reason_codes"), list)
        and all(isinstance(c, str) for c in raw["reason_codes"])
    ):
        return raw, True
    if "result" not in ev:
        # OPA omits "result" when the decision was undefined; gateways must treat that as deny.
        return {"decision": "undefined", "reason_codes": ["OPA_RESULT_UNDEFINED"]}, False
    return {"decision": "unrecognised", "reason_codes": ["OPA_RESULT_NOT_A_DECISION"]}, False


def to_record(
    ev: Mapping[str, Any], index: int, *, bundle_name: str, uploader: Mapping[str, Any], received_at: str
) -> dict[str, Any]:
    """One validated audit record for OPA event ``ev`` (the ``index``-th of its upload)."""
    did = ev.get("decision_id")
    if not isinstance(did, str) or not did or len(did) > _MAX_ID:
        raise _bad(index, "decision_id must be a non-empty string", ev)
    labels = ev.get("labels")
    if not isinstance(labels, dict) or not isinstance(labels.get("id"), str) or not labels["id"]:
        raise _bad(index, "labels.id (the OPA instance id) is required", ev)
    stamp = ev.get("timestamp")
    try:
        if not isinstance(stamp, str) or datetime.fromisoformat(stamp).tzinfo is None:
            raise ValueError
    except ValueError:
        raise _bad(index, "timestamp must be an RFC 3339 time with offset", ev) from None
    rest = dict(ev)
    inp = ev.get("input")
    if isinstance(inp, dict):
        del rest["input"]
    result, result_is_opas = _result(ev)
    if result_is_opas:
        del rest["result"]
    dropped: list[str] = []
    if "nd_builtin_cache" in rest and len(canonical_json(rest)) > _EVENT_BUDGET:
        del rest["nd_builtin_cache"]  # OPA itself drops it from events that do not fit a chunk
        dropped.append("nd_builtin_cache")
    policy_rev, registry_rev = _revisions(ev, bundle_name)
    rec: dict[str, Any] = {
        "v": RECORD_VERSION,
        "kind": "decision",
        "time": stamp,
        "decision_id": did,
        "input": inp if isinstance(inp, dict) else {},
        "result": result,
        "policy_revision": policy_rev,
        "registry_revision": registry_rev,
        "engine": "opa",
        "engine_agent": labels["id"],
        "caller": {**uploader, "via": "opa-decision-log", "requested_by": ev.get("requested_by")},
        "opa": {"event": rest, "received_at": received_at, **({"dropped": dropped} if dropped else {})},
    }
    if isinstance(labels.get("version"), str):
        rec["engine_version"] = labels["version"]
    if isinstance(inp, dict):
        for key in ("tenant", "model"):
            if isinstance(inp.get(key), str):
                rec[key] = inp[key]
    try:
        validate(rec)
        canonical_json(rec)
    except InvalidRecord as exc:
        raise _bad(index, exc.message, ev) from exc
    return rec


class DecisionLogReceiver:
    def __init__(self, store: FleetStore, bundle_name: str, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.bundle_name = bundle_name
        self._clock = clock
        # Check-append-mark must not interleave for one decision id (OPA may re-send a chunk while
        # the first attempt is still being written); batches are small and infrequent per agent.
        self._lock = asyncio.Lock()

    def records(
        self, events: Sequence[Mapping[str, Any]], uploader: Mapping[str, Any],
        may_act_for: Callable[[str], bool] | None = None,
    ) -> list[dict[str, Any]]:
        received_at = datetime.fromtimestamp(self._clock()).astimezone().isoformat()
        out = []
        for i, ev in enumerate(events):
            rec = to_record(ev, i, bundle_name=self.bundle_name, uploader=uploader, received_at=received_at)
            tenant = rec.get("tenant")
            if may_act_for is not None and tenant is not None and not may_act_for(tenant):
                raise Forbidden(f"event {i}: this token may not log decisions for tenant {tenant!r}",
                                code="TENANT_FORBIDDEN", details={"index": i, "tenant": tenant})
            out.append(rec)
        return out

    async def ingest(self, records: Sequence[Mapping[str, Any]], audit_log: Any) -> IngestResult:
        async with self._lock:
            seen = await asyncio.to_thread(self.store.seen, [r["decision_id"] for r in records])
            fresh: list[Mapping[str, Any]] = []
            batch: set[str] = set()
            for rec in records:
                did = rec["decision_id"]
                if did not in seen and did not in batch:
                    batch.add(did)
                    fresh.append(rec)
            outcome = await _append_all(audit_log, fresh)
            stored = [(r["decision_id"], i, r.get("engine_agent")) for r, i in zip(fresh, outcome, strict=True)
                      if isinstance(i, int)]
            # Mark what did get stored even when part of the batch failed: OPA re-sends the whole
            # chunk, and those events must then count as duplicates.
            await asyncio.to_thread(self.store.mark_seen, stored, self._clock())
            failures = [e for e in outcome if isinstance(e, BaseException)]
            if failures:
                first = failures[0]
                if isinstance(first, TollgateError) and first.status < 500:
                    raise first
                raise AuditUnavailable(
                    f"audit log stored {len(stored)} of {len(fresh)} new events ({first!r}); OPA should retry",
                    details={"stored": len(stored), "new": len(fresh)},
                ) from first
        return IngestResult(len(records), len(fresh), len(records) - len(fresh))


async def _append_all(audit_log: Any, records: Sequence[Mapping[str, Any]]) -> list[int | BaseException]:
    """Durably append each record: its audit index, or the exception that stopped it."""
    if not records:
        return []
    if hasattr(audit_log, "append_many"):  # one contiguous group commit: all or nothing
        try:
            return list(await asyncio.to_thread(audit_log.append_many, list(records)))
        except Exception as exc:
            return [exc] * len(records)
    if hasattr(audit_log, "append_async"):
        results = await asyncio.gather(*(audit_log.append_async(r) for r in records), return_exceptions=True)
        return [r if isinstance(r, BaseException) else int(r) for r in results]
    out: list[int | BaseException] = []
    for rec in records:
        try:
            out.append(int(await asyncio.to_thread(audit_log.append, rec)))
        except Exception as exc:
            out.append(exc)
    return out
