"""Encoded forms of one outcome, memoised on it so that cache hits do not re-encode them.

A cached outcome answers every hit for its input until it expires. Its reasons (a sentence and
the facts with their sources, several kilobytes for a wide routing scope) are the bulk of both
the HTTP answer and the audit record, and JSON-encoding them again on every hit cost more than
the rest of the request. So the first use encodes them once:

* :meth:`OutcomeViews.response` -- the outcome's members of the ``/v1/preflight`` body, as
  JSON text without the braces, to be joined with the per-request members;
* :meth:`OutcomeViews.record_result` -- the audit record's ``result`` object as a
  :class:`~broker.canonical.Canonical`;
* :func:`decision_record` -- the whole audit record, its canonical bytes assembled from those
  parts and a few per-request values (ids and times, which need no escaping), so the audit log
  takes the bytes as they are. ``tests/decisions/test_encoded.py`` proves the assembled bytes
  equal the canonical encoding of the record for every shape this module builds.
"""

from __future__ import annotations

import json
from functools import lru_cache, partial
from typing import Any

from broker.canonical import Canonical, CheckedRecord, Template, canonical_json
from broker.decisions.model import Decision, EngineInfo, Outcome, PreflightQuery
from broker.decisions.timefmt import format_rfc3339_ns
from broker.security.principal import Principal

RECORD_VERSION = 1  # the audit log's record schema (broker.audit.records)
_RECORD_END = b'","v":' + str(RECORD_VERSION).encode() + b"}"
_Frame = tuple[Canonical, bytes, bytes, bytes]


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


class OutcomeViews:
    """Encodings of ``outcome`` as answered for a target whose regions are ``effective_regions``."""

    __slots__ = ("_frames", "_input", "_outcome", "_response", "_results", "_template", "effective_regions")

    def __init__(self, outcome: Outcome, effective_regions: tuple[str, ...]) -> None:
        self._outcome = outcome
        self.effective_regions = effective_regions
        self._response: bytes | None = None
        self._results: dict[str, Canonical] = {}
        self._input: tuple[PreflightQuery, _QueryParts] | None = None
        self._frames: dict[str, _Frame] = {}
        self._template: Template | None = None

    def response(self) -> bytes:
        if self._response is None:
            o = self._outcome
            vu = o.valid_until_ns
            self._response = _json({
                "allow": o.allow,
                "reasons": list(o.reasons),
                "obligations": list(o.obligations),
                "effective_regions": list(self.effective_regions),
                "valid_until": None if vu is None else format_rfc3339_ns(vu),
            })[1:-1]
        return self._response

    def record_result(self, source: str) -> Canonical:
        """``source`` is "engine" (evaluated for this request) or "cache"."""
        result = self._results.get(source)
        if result is None:
            if self._template is None:
                # One encoding serves both variants, so the first cache hit does not encode the
                # reasons again. Unchecked (decoded=True): reasons and obligations are the engine's
                # decision document as json.loads gave it (parse_outcome only reads it), the rest
                # are strings, booleans and an int; decoding the bytes again to prove them cost
                # 6 of a cache miss's 100 µs (measured).
                o = self._outcome
                self._template = Template({
                    "decision": "allow" if o.allow else "deny",
                    "reason_codes": o.reason_codes,
                    **o.to_json(),
                    "effective_regions": list(self.effective_regions),
                }, "source", decoded=True)
            result = self._template.fill(source)
            self._results[source] = result  # a benign race: both threads build equal values
        return result

    def query_parts(self, query: PreflightQuery) -> _QueryParts:
        """Encoded pieces of ``query`` (every hit of one cache entry has the same key)."""
        memo = self._input
        if memo is None or (memo[0] is not query and memo[0].cache_key() != query.cache_key()):
            memo = (query, _QueryParts(query))
            self._input = memo
            self._frames = {}  # they embed the query's parts
        return memo[1]

    def record_frame(self, d: Decision, source: str) -> _Frame:
        """The audit record around its per-request values (decision id, times), as the bytes
        that go between them. Members in sorted key order, as canonical JSON has them:
        caller, decision_id | engine, engine_version, evaluated_at | input (up to now_ns) |
        now_ns | rest of input, kind, model, policy_revision, registry_revision, result,
        tenant, time | v. Constant for one cached outcome: its snapshot fixes engine and
        revisions, its cache key fixes the input apart from now_ns."""
        q = self.query_parts(d.query)
        frame = self._frames.get(source)
        if frame is None:
            result = self.record_result(source)
            engine, revisions = _record_revisions(d.policy_revision, d.registry_revision, d.engine)
            frame = (
                result,
                b'",' + engine + b',"evaluated_at":"',
                b'","input":' + q.input_head,
                b"".join((q.input_tail, b',"kind":"decision","model":', q.model, b",", revisions,
                          b',"result":', result.canonical, b',"tenant":', q.tenant, b',"time":"')),
            )
            self._frames[source] = frame
        return frame


class _QueryParts:
    """The record members that depend on the query alone, canonically encoded."""

    __slots__ = ("input_head", "input_tail", "model", "tenant")

    def __init__(self, q: PreflightQuery) -> None:
        subject = None if q.subject is None else q.subject.to_input()
        self.model = canonical_json(q.model)
        self.tenant = canonical_json(q.tenant)
        # {"model":…,"now_ns":<per request>,"subject":…,"target":…,"tenant":…}
        self.input_head = b'{"model":' + self.model + b',"now_ns":'
        self.input_tail = b"".join((b',"subject":', canonical_json(subject), b',"target":',
                                    canonical_json(q.target), b',"tenant":', self.tenant, b"}"))


def views_of(outcome: Outcome, effective_regions: tuple[str, ...]) -> OutcomeViews:
    """The memoised views of ``outcome`` for these regions (built on first use)."""
    views = outcome.memo
    if isinstance(views, OutcomeViews) and views.effective_regions is effective_regions:
        return views
    views = OutcomeViews(outcome, effective_regions)
    if outcome.memo is None:
        # An outcome is evaluated for one (cache key, snapshot), hence one target: the first
        # views are the ones every later hit asks for. Frozen dataclass: set it explicitly.
        object.__setattr__(outcome, "memo", views)
    return views


@lru_cache(maxsize=64)
def _revisions(policy_revision: str, registry_revision: int, engine: EngineInfo) -> bytes:
    return _json({
        "policy_revision": policy_revision,
        "registry_revision": registry_revision,
        "engine": {"name": engine.name, "version": engine.version},
    })[1:-1]


@lru_cache(maxsize=64)
def _record_revisions(policy_revision: str, registry_revision: int, engine: EngineInfo,
                      ) -> tuple[bytes, bytes]:
    return (b'"engine":' + canonical_json(engine.name) + b',"engine_version":'
            + canonical_json(engine.version),
            b'"policy_revision":' + canonical_json(policy_revision) + b',"registry_revision":'
            + canonical_json(registry_revision))


def decision_record(d: Decision, principal: Principal, recorded_ns: int) -> CheckedRecord:
    """The audit record of decision ``d`` (``recorded_ns``: when it was recorded)."""
    views = views_of(d.outcome, d.effective_regions)
    result, after_id, after_evaluated_at, after_now = views.record_frame(d, "cache" if d.cached else "engine")
    identity, caller = principal.audit_identity
    # Ids and RFC 3339 times are [0-9a-zA-Z:.-] only: quoting is all their encoding needs.
    evaluated_at = format_rfc3339_ns(d.evaluated_at_ns)
    time = evaluated_at if recorded_ns == d.evaluated_at_ns else format_rfc3339_ns(recorded_ns)
    data = b"".join((
        b'{"caller":', caller, b',"decision_id":"', d.decision_id.encode(),
        after_id, evaluated_at.encode(),
        after_evaluated_at, str(d.evaluated_at_ns).encode(),
        after_now, time.encode(), _RECORD_END,
    ))
    return CheckedRecord(data, ("decision", d.decision_id, d.query.tenant, d.query.model),
                         (recorded_ns // 1000) / 1e6,  # what parsing ``time`` gives (µs precision)
                         partial(_record_value, d, result, identity, time, evaluated_at))


def _record_value(d: Decision, result: Canonical, identity: dict[str, object], time: str,
                  evaluated_at: str) -> dict[str, Any]:
    """The record :func:`decision_record` encodes, as a value (built only when read)."""
    return {
        "v": RECORD_VERSION,
        "kind": "decision",
        "time": time,
        "decision_id": d.decision_id,
        "tenant": d.query.tenant,
        "model": d.query.model,
        "input": d.query.engine_input(d.evaluated_at_ns),
        "result": result,
        "evaluated_at": evaluated_at,
        "policy_revision": d.policy_revision,
        "registry_revision": d.registry_revision,
        "engine": d.engine.name,
        "engine_version": d.engine.version,
        "caller": identity,
    }


def decision_body(d: Decision) -> bytes:
    """The ``/v1/preflight`` answer as JSON bytes (same members as ``views.decision_json``)."""
    views = views_of(d.outcome, d.effective_regions)
    # Ids and RFC 3339 times are [0-9a-zA-Z:.-] only: quoting is all their encoding needs.
    return b"".join((
        b'{"decision_id":"', d.decision_id.encode(), b'",',
        views.response(), b",",
        _revisions(d.policy_revision, d.registry_revision, d.engine),
        b',"evaluated_at":"', format_rfc3339_ns(d.evaluated_at_ns).encode(), b'"}',
    ))
