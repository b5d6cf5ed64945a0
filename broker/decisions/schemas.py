"""Wire shapes of the pre-flight API (pydantic; no FastAPI here, so batch items reuse them)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator

from broker.decisions.model import PreflightQuery, Subject
from broker.decisions.timefmt import parse_rfc3339_ns

# Ids are not checked against the registry here: an unknown id is a policy answer (UNKNOWN_*,
# allow false), not an input error. Only shape is enforced: printable ASCII, no spaces, bounded,
# so nothing odd reaches logs or the audit record.
_ID = r"^[\x21-\x7e]+$"
TenantId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_ID)]
TargetId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_ID)]
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_ID)]
Nationality = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}(-[A-Z0-9]{2,12})?$")]
Timestamp = Annotated[str, StringConstraints(max_length=64)]
MAX_BATCH = 1000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubjectIn(_In):
    nationalities: list[Nationality] = Field(
        default_factory=list, max_length=32, description="ISO 3166-1 alpha-2 codes"
    )
    us_person: StrictBool = Field(
        default=False, description="US person under the EAR; absent means not (restrictive)"
    )


class PreflightIn(_In):
    tenant: TenantId
    region: TargetId = Field(description="region id (aws:eu-central-1) or routing scope id")
    model: ModelId
    subject: SubjectIn | None = None
    at: Timestamp | None = Field(
        default=None, description="RFC 3339 with offset or Z; default: now", examples=["2026-07-01T00:00:00Z"]
    )

    @field_validator("at")
    @classmethod
    def _rfc3339(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rfc3339_ns(value)  # ValueError -> 422 naming the field
        return value

    def to_query(self) -> PreflightQuery:
        subject = None
        if self.subject is not None:
            subject = Subject(tuple(self.subject.nationalities), self.subject.us_person)
        at_ns = None if self.at is None else parse_rfc3339_ns(self.at)
        return PreflightQuery(self.tenant, self.region, self.model, subject, at_ns)


class BatchIn(_In):
    # Items stay raw here so that one bad item is reported in its own slot (not a batch-wide 422).
    items: list[Any] = Field(max_length=MAX_BATCH, description=f"up to {MAX_BATCH} pre-flights")


class EngineOut(BaseModel):
    name: str
    version: str


class ReasonOut(BaseModel):
    code: str
    message: str
    facts: dict[str, Any] = {}


class PreflightOut(BaseModel):
    decision_id: str
    allow: bool
    reasons: list[ReasonOut]
    obligations: list[Any]
    effective_regions: list[str]
    policy_revision: str
    registry_revision: int
    engine: EngineOut
    evaluated_at: str
    valid_until: str | None


class BatchItemOut(BaseModel):
    status: int = Field(description="200, or the item's own error status (403, 422)")
    decision: PreflightOut | None = None
    error: dict[str, Any] | None = None


class BatchOut(BaseModel):
    items: list[BatchItemOut]


class RouteOut(BaseModel):
    model: str
    reasons: list[ReasonOut]
    obligations: list[Any]
    valid_until: str | None


class RoutesOut(BaseModel):
    tenant: str
    region: str
    effective_regions: list[str]
    evaluated_at: str
    valid_until: str | None
    policy_revision: str
    registry_revision: int
    engine: EngineOut
    allowed: list[RouteOut]
    excluded: list[RouteOut]


class TransitionOut(BaseModel):
    at: str
    model: str
    region: str
    allow_before: bool
    allow: bool
    reasons: list[ReasonOut]


class ChangesOut(BaseModel):
    tenant: str
    since: str
    until: str
    policy_revision: str
    registry_revision: int
    transitions: list[TransitionOut]
    truncated: bool
