"""The registry's domain model: pydantic v2, no web framework, no storage.

Every fact that comes from the outside world carries a :class:`Source` (citation, confidence and,
where known, the date it was true as of). Tenants are customer data, not outside facts: they carry a
``demo`` flag instead, so demo data can never be mistaken for a customer's or for a sourced fact.

Identifiers are strings chosen to be readable in decisions and logs:

* jurisdiction: ISO 3166-1 alpha-2 (``US``) or a sanctioned sub-national area (``UA-CRIMEA``)
* region: ``<cloud>:<code>`` (``aws:eu-central-1``)
* routing scope: ``<platform>:<name>`` (``aws-bedrock:eu``); a plain region is a scope of one and
  needs no entry of its own
* provider, model, tenant: lower-case slugs (``anthropic``, ``anthropic.claude-mythos-5``)
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._:/@+-]{0,199}$")
_JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{2,12})?$")
_REGION_ID = re.compile(r"^(aws|azure|gcp):[a-z0-9][a-z0-9-]{0,62}$")
_SCOPE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}:[a-z0-9][a-z0-9._-]{0,62}$")

EAR_GROUPS = ("A:1", "A:5", "A:6", "D:1", "D:2", "D:3", "D:4", "D:5", "E:1", "E:2")
"""Country groups of 15 CFR 740 Supp. No. 1 that policies may test."""

HISTORICAL_GROUPS = ("AIA-TIER1-2025",)
"""Groups kept for history only (the rescinded AI-diffusion tiers); never enforced."""


def _check(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def validate(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what}")
        return value

    return AfterValidator(validate)


Slug = Annotated[str, _check(_SLUG, "identifier (lower-case letters, digits, . _ : / @ + -)")]
JurisdictionCode = Annotated[
    str, _check(_JURISDICTION, "jurisdiction code (ISO 3166-1 alpha-2, or e.g. UA-CRIMEA)")
]
RegionId = Annotated[str, _check(_REGION_ID, "region id (<aws|azure|gcp>:<code>)")]
ScopeId = Annotated[str, _check(_SCOPE_ID, "routing scope id (<platform>:<name>)")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Confidence(StrEnum):
    """How far a fact can be trusted, as the research marks it."""

    CONFIRMED = "confirmed"  # primary/official source, or two independent professional sources
    SECONDARY = "secondary"  # news, blogs or law-firm summaries that agree
    UNCONFIRMED = "unconfirmed"  # general knowledge or a single weak source: verify before relying


class Source(_Frozen):
    """Where a fact comes from."""

    ref: str = Field(min_length=1, max_length=2000, description="citation, as the research gives it")
    confidence: Confidence
    as_of: date | None = Field(default=None, description="the date the source says it was true")


class _Window(_Frozen):
    since: date | None = None
    until: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _Window:
        if self.since and self.until and self.until <= self.since:
            raise ValueError(f"'until' ({self.until}) must be after 'since' ({self.since})")
        return self


class GroupMembership(_Window):
    """Membership of a jurisdiction in an EAR country group, valid over [since, until)."""

    group: str
    historical: bool = Field(
        default=False, description="kept for history (e.g. rescinded AI-diffusion tiers); not enforced"
    )
    source: Source

    @model_validator(mode="after")
    def _known_group(self) -> GroupMembership:
        if self.group not in EAR_GROUPS and self.group not in HISTORICAL_GROUPS:
            raise ValueError(f"unknown country group {self.group!r}; known: {EAR_GROUPS + HISTORICAL_GROUPS}")
        if self.group in HISTORICAL_GROUPS and not self.historical:
            raise ValueError(f"group {self.group!r} is historical and must be marked historical: true")
        return self


class OfacProgram(StrEnum):
    COMPREHENSIVE = "comprehensive"
    TARGETED = "targeted"
    NONE = "none"


class OfacStatus(_Window):
    program: OfacProgram
    source: Source | None = None


class SourcedFlag(_Frozen):
    value: bool
    source: Source


class Treatment(_Frozen):
    """EAR treats this jurisdiction as another (Hong Kong and Macau as China)."""

    jurisdiction: JurisdictionCode
    source: Source


class Jurisdiction(_Frozen):
    code: JurisdictionCode
    name: str = Field(min_length=1, max_length=200)
    parent: JurisdictionCode | None = Field(default=None, description="for sub-national areas")
    ear_groups: tuple[GroupMembership, ...] = ()
    ofac: tuple[OfacStatus, ...] = Field(default=(), description="programme history, newest last")
    eu_member: SourcedFlag | None = None
    efta: SourcedFlag | None = None
    treated_as: Treatment | None = None
    notes: tuple[Source, ...] = Field(default=(), description="other sourced remarks (e.g. disputes)")


class Cloud(StrEnum):
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"


class CloudRegion(_Frozen):
    id: RegionId
    cloud: Cloud
    code: str = Field(min_length=1, max_length=63)
    partition: str = Field(min_length=1, max_length=63, description="aws, aws-cn, aws-us-gov, AzureChinaCloud, ...")
    country: JurisdictionCode
    city: str | None = None
    name: str | None = None
    operator: str | None = Field(default=None, description="local operator, e.g. 21Vianet")
    restricted_access: bool = Field(default=False, description="government/classified partitions")
    source: Source

    @model_validator(mode="after")
    def _id_matches(self) -> CloudRegion:
        if self.id != f"{self.cloud.value}:{self.code}":
            raise ValueError(f"region id {self.id!r} must be '{self.cloud.value}:{self.code}'")
        return self


class ScopeKind(StrEnum):
    BEDROCK_CRIS = "bedrock_cris"
    AZURE_DEPLOYMENT = "azure_deployment"
    VERTEX = "vertex"


class RoutingScope(_Frozen):
    """A named set of regions any one of which may serve a request."""

    id: ScopeId
    kind: ScopeKind
    name: str = Field(min_length=1, max_length=200)
    members: tuple[RegionId, ...] = Field(min_length=1)
    global_scope: bool = Field(
        default=False, description="processing location not controllable; never satisfies residency"
    )
    source: Source
    notes: tuple[Source, ...] = ()


class Provider(_Frozen):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    hq_country: JurisdictionCode
    ultimate_parent_country: JurisdictionCode
    hq_source: Source
    entity_list: SourcedFlag | None = Field(default=None, description="BIS Entity List listing")
    entity_list_since: date | None = None
    customer_restrictions: tuple[CustomerRestriction, ...] = ()
    demo: bool = Field(default=False, description="a demo provider, not a sourced fact")


class CustomerRestriction(_Frozen):
    """Provider terms barring some customers, e.g. majority ownership from unsupported regions."""

    kind: Literal["ownership"] = "ownership"
    countries: tuple[JurisdictionCode, ...] = Field(min_length=1)
    min_ownership_share: float = Field(gt=0, le=1, description="share above which the bar applies")
    since: date | None = None
    source: Source


class Weights(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Deployment(_Frozen):
    """Where a provider serves a model: a region or a routing scope, with the platform's model id."""

    target: str = Field(description="a region id or a routing scope id")
    platform_model_id: str | None = None
    source: Source
    demo: bool = Field(default=False, description="demo data: not a sourced fact")


class ExportRestriction(_Frozen):
    """A per-model export restriction (e.g. a Commerce 'is-informed' letter)."""

    id: Slug
    kind: Literal["is_informed_letter", "license_requirement"] = "is_informed_letter"
    issued: date
    effective: datetime | None = Field(default=None, description="defaults to the start of 'issued' (UTC)")
    lifted: date | None = None
    scope: Literal["foreign_persons"] = Field(
        default="foreign_persons", description="who needs a licence: anyone not a US person"
    )
    trusted_partner_exempt_since: date | None = Field(
        default=None, description="from this date the model's trusted partners are exempt"
    )
    source: Source
    exemption_source: Source | None = None

    @model_validator(mode="after")
    def _dates(self) -> ExportRestriction:
        if self.lifted and self.lifted < self.issued:
            raise ValueError(f"'lifted' ({self.lifted}) is before 'issued' ({self.issued})")
        if self.trusted_partner_exempt_since and self.trusted_partner_exempt_since < self.issued:
            raise ValueError("'trusted_partner_exempt_since' is before 'issued'")
        if (self.trusted_partner_exempt_since is None) != (self.exemption_source is None):
            raise ValueError("an exemption needs both 'trusted_partner_exempt_since' and 'exemption_source'")
        return self


class CoveredFrontier(_Frozen):
    """EO 14409 covered-frontier status and release windows (government -> partners -> public)."""

    designated: bool
    government_access: datetime | None = None
    trusted_partner_release: datetime | None = None
    public_release: datetime | None = None
    source: Source

    @model_validator(mode="after")
    def _ordered(self) -> CoveredFrontier:
        seq = [
            ("government_access", self.government_access),
            ("trusted_partner_release", self.trusted_partner_release),
            ("public_release", self.public_release),
        ]
        present = [(n, t) for n, t in seq if t is not None]
        for (n1, t1), (n2, t2) in itertools.pairwise(present):
            if t2 < t1:
                raise ValueError(f"release windows out of order: {n2} ({t2}) is before {n1} ({t1})")
        for _, t in present:
            if t.tzinfo is None:
                raise ValueError("release window times must carry a time zone (e.g. 2026-07-01T00:00:00Z)")
        return self


class TrustedPartner(_Window):
    """A tenant granted early / exempt access to a model, from ``since``."""

    tenant: Slug
    source: Source | None = None
    demo: bool = False


class Model(_Frozen):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    provider: Slug
    family: str | None = None
    version: str | None = None
    weights: Weights
    training_compute_flop: float | None = Field(default=None, gt=0)
    training_compute_source: Source | None = None
    deployments: tuple[Deployment, ...] = ()
    eccn: str | None = Field(default=None, description="ECCN, or None for EAR99 / not classified")
    export_restrictions: tuple[ExportRestriction, ...] = ()
    covered_frontier: CoveredFrontier | None = None
    trusted_partners: tuple[TrustedPartner, ...] = ()
    eu_gpai_systemic_risk: SourcedFlag | None = None
    cn_genai_filed: SourcedFlag | None = None
    source: Source
    demo: bool = Field(default=False, description="a demo model, not a sourced fact")


class Residency(_Frozen):
    """Where a tenant's requests may be processed."""

    kind: Literal["none", "eu_member_states", "countries"] = "none"
    countries: tuple[JurisdictionCode, ...] = ()

    @model_validator(mode="after")
    def _countries(self) -> Residency:
        if self.kind == "countries" and not self.countries:
            raise ValueError("residency kind 'countries' needs a non-empty 'countries' list")
        if self.kind != "countries" and self.countries:
            raise ValueError(f"residency kind {self.kind!r} takes no 'countries' list")
        return self


class Tenant(_Frozen):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    hq_country: JurisdictionCode
    parent_country: JurisdictionCode | None = Field(default=None, description="ultimate parent's HQ")
    parent_ownership_share: float = Field(default=0.0, ge=0, le=1)
    residency: Residency = Residency()
    government: bool = False
    public_facing: bool = Field(default=False, description="offers generative AI to the public")
    suspended: bool = False
    sanctioned: bool = False
    demo: bool = False


class Registry(_Frozen):
    """A whole registry revision's content, keyed by id for O(1) lookups."""

    jurisdictions: dict[str, Jurisdiction] = {}
    regions: dict[str, CloudRegion] = {}
    scopes: dict[str, RoutingScope] = {}
    providers: dict[str, Provider] = {}
    models: dict[str, Model] = {}
    tenants: dict[str, Tenant] = {}


KINDS: dict[str, type[_Frozen]] = {
    "jurisdiction": Jurisdiction,
    "region": CloudRegion,
    "scope": RoutingScope,
    "provider": Provider,
    "model": Model,
    "tenant": Tenant,
}
"""Entity kind name -> model class. The key is the entity's ``code``/``id`` field."""

KIND_COLLECTIONS: dict[str, str] = {
    "jurisdiction": "jurisdictions",
    "region": "regions",
    "scope": "scopes",
    "provider": "providers",
    "model": "models",
    "tenant": "tenants",
}

Provider.model_rebuild()
