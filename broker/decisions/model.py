"""Domain values of the decision feature (plain frozen dataclasses: no web, no engine)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Subject:
    """Who the request is for; ``us_person`` defaults to False (the restrictive reading)."""

    nationalities: tuple[str, ...] = ()
    us_person: bool = False

    def to_input(self) -> dict[str, Any]:
        return {"nationalities": list(self.nationalities), "us_person": self.us_person}


@dataclass(frozen=True, slots=True)
class PreflightQuery:
    """One pre-flight question, already syntactically valid. ``at_ns`` None means "now"."""

    tenant: str
    target: str  # region id (aws:eu-central-1) or routing scope id (aws-bedrock:eu)
    model: str
    subject: Subject | None = None
    at_ns: int | None = None

    def engine_input(self, at_ns: int) -> dict[str, Any]:
        """The policy input document (see broker/policy): what the engine sees, exactly."""
        return {
            "tenant": self.tenant,
            "target": self.target,
            "model": self.model,
            "subject": None if self.subject is None else self.subject.to_input(),
            "now_ns": at_ns,
        }

    def cache_key(self) -> tuple[Any, ...]:
        """The canonical input minus time (revisions are implied: each snapshot owns its cache).

        Nationalities are kept in the order given: sorting would assume the policy treats them as
        a set, and a key may only ever be finer than the engine's view, never coarser.
        """
        s = self.subject
        subject = None if s is None else (s.nationalities, s.us_person)
        return (self.tenant, self.target, self.model, subject)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A validated decision document as the engine produced it."""

    allow: bool
    reasons: tuple[dict[str, Any], ...]
    obligations: tuple[Any, ...]
    valid_until_ns: int | None
    # Presentation layers memoise this outcome's encoded forms here (broker.decisions.encoded):
    # a cached outcome is served many times, and its reasons are the bulk of every answer.
    memo: Any = field(default=None, init=False, compare=False, repr=False)
    # The reason codes, once: every decision served from this outcome is counted by them.
    codes: tuple[str, ...] = field(default=(), init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "codes", tuple(r["code"] for r in self.reasons))

    @property
    def reason_codes(self) -> list[str]:
        return list(self.codes)

    def to_json(self) -> dict[str, Any]:
        return {
            "allow": self.allow,
            "reasons": list(self.reasons),
            "obligations": list(self.obligations),
            "valid_until_ns": self.valid_until_ns,
        }


@dataclass(frozen=True, slots=True)
class EngineInfo:
    name: str
    version: str


@dataclass(slots=True)
class Decision:
    """One answered pre-flight, as recorded in the audit log and returned to the caller.

    Treated as immutable once returned; not ``frozen`` because a frozen dataclass's __init__
    costs 2 µs here (one object.__setattr__ per field) on a path whose whole budget is 5 µs,
    and ``audit_index`` is only known after the durable append.
    """

    decision_id: str
    query: PreflightQuery
    outcome: Outcome
    effective_regions: tuple[str, ...]
    policy_revision: str
    registry_revision: int
    engine: EngineInfo
    evaluated_at_ns: int
    cached: bool
    audit_index: int


@dataclass(frozen=True, slots=True)
class RouteEntry:
    model: str
    allow: bool
    reasons: tuple[dict[str, Any], ...]
    obligations: tuple[Any, ...]
    valid_until_ns: int | None


@dataclass(frozen=True, slots=True)
class RouteTable:
    tenant: str
    target: str
    effective_regions: tuple[str, ...]
    evaluated_at_ns: int
    policy_revision: str
    registry_revision: int
    engine: EngineInfo
    allowed: tuple[RouteEntry, ...]
    excluded: tuple[RouteEntry, ...]
    valid_until_ns: int | None  # earliest valid_until over the table: when to refresh it
    audit_index: int


@dataclass(frozen=True, slots=True)
class Transition:
    """At ``at_ns`` the answer for (model, target) changes from ``allow_before`` to ``allow``."""

    at_ns: int
    model: str
    target: str
    allow_before: bool
    allow: bool
    reasons: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class RouteChanges:
    tenant: str
    from_ns: int
    until_ns: int
    policy_revision: str
    registry_revision: int
    transitions: tuple[Transition, ...] = field(default=())
    truncated: bool = False
    audit_index: int = -1
