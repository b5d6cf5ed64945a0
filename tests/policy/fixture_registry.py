"""A small hand-built registry that exercises every reason code of the default pack.

It is the single source of the policy fixtures: the Python decision tests compile it with
``compile_data_document``, and ``rego/tollgate/routing/fixture_test.rego`` is generated from the
same compiled document (``python -m tests.policy.fixture_registry``), so the Rego unit tests run
against exactly the layout the broker produces. tests/policy/test_pack.py fails if the generated
file is stale.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from broker.policy.datadoc import compile_data_document, date_ns
from broker.policy.pack import DEFAULT_PACK_DIR
from registry.model import (
    CloudRegion,
    Confidence,
    CoveredFrontier,
    CustomerRestriction,
    Deployment,
    ExportRestriction,
    GroupMembership,
    Jurisdiction,
    Model,
    OfacStatus,
    Provider,
    Registry,
    Residency,
    RoutingScope,
    Source,
    SourcedFlag,
    Tenant,
    Treatment,
    TrustedPartner,
)

GOV_ACCESS = date(2026, 6, 1)
IIL = date(2026, 6, 12)
TP_RELEASE = date(2026, 6, 15)
PARTNER_SINCE = date(2026, 6, 20)
EXEMPT = date(2026, 6, 26)
PUBLIC = date(2026, 7, 1)
NOW = date(2026, 11, 22)
SYRIA_OFAC_END = date(2025, 6, 30)

TIMES = {
    "gov_access": date_ns(GOV_ACCESS),
    "iil": date_ns(IIL),
    "tp_release": date_ns(TP_RELEASE),
    "partner_since": date_ns(PARTNER_SINCE),
    "exempt": date_ns(EXEMPT),
    "public": date_ns(PUBLIC),
    "now": date_ns(NOW),
    "syria_ofac_end": date_ns(SYRIA_OFAC_END),
}

FIXTURE_REGO = DEFAULT_PACK_DIR / "tollgate" / "routing" / "fixture_test.rego"


def _src(ref: str) -> Source:
    return Source(ref=f"fixture: {ref}", confidence=Confidence.CONFIRMED)


def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _groups(*groups: str, since: date | None = None, until: date | None = None) -> tuple[GroupMembership, ...]:
    return tuple(
        GroupMembership(group=g, since=since, until=until, source=_src(f"15 CFR 740 Supp. 1 {g}")) for g in groups
    )


def _ofac(until: date | None = None) -> tuple[OfacStatus, ...]:
    from registry.model import OfacProgram

    return (OfacStatus(program=OfacProgram.COMPREHENSIVE, until=until, source=_src("OFAC programme")),)


def _eu(value: bool) -> SourcedFlag:
    return SourcedFlag(value=value, source=_src("EU membership"))


def _jurisdictions() -> dict[str, Jurisdiction]:
    js = [
        Jurisdiction(code="US", name="United States", ear_groups=_groups("A:1"), eu_member=_eu(False)),
        Jurisdiction(code="DE", name="Germany", ear_groups=_groups("A:1"), eu_member=_eu(True)),
        Jurisdiction(code="GB", name="United Kingdom", ear_groups=_groups("A:1"), eu_member=_eu(False)),
        Jurisdiction(
            code="CH", name="Switzerland", eu_member=_eu(False), efta=SourcedFlag(value=True, source=_src("EFTA"))
        ),
        Jurisdiction(code="SG", name="Singapore", ear_groups=_groups("A:6")),
        Jurisdiction(code="AE", name="United Arab Emirates", ear_groups=_groups("D:3", "D:4")),
        Jurisdiction(code="CN", name="China", ear_groups=_groups("D:1", "D:3", "D:4", "D:5")),
        Jurisdiction(
            code="HK", name="Hong Kong", treated_as=Treatment(jurisdiction="CN", source=_src("HK treated as CN"))
        ),
        Jurisdiction(code="MO", name="Macau", ear_groups=_groups("D:1", "D:3", "D:4")),
        Jurisdiction(code="IR", name="Iran", ear_groups=_groups("D:2", "D:5", "E:1"), ofac=_ofac()),
        Jurisdiction(code="CU", name="Cuba", ear_groups=_groups("D:5", "E:2"), ofac=_ofac()),
        Jurisdiction(code="SY", name="Syria", ear_groups=_groups("D:5", "E:1"), ofac=_ofac(until=SYRIA_OFAC_END)),
        Jurisdiction(code="UA", name="Ukraine"),
        Jurisdiction(code="UA-CRIMEA", name="Crimea", parent="UA", ofac=_ofac()),
        # A future EAR membership, so valid_until has an edge to find for DE-based requests.
        Jurisdiction(
            code="KH", name="Cambodia", ear_groups=_groups("D:5", since=date(2020, 1, 1), until=date(2026, 2, 3))
        ),
        Jurisdiction(code="RU", name="Russia", ear_groups=_groups("D:5", since=date(2022, 2, 24))),
    ]
    return {j.code: j for j in js}


def _region(cloud: str, code: str, country: str, partition: str = "aws") -> CloudRegion:
    from registry.model import Cloud

    return CloudRegion(
        id=f"{cloud}:{code}",
        cloud=Cloud(cloud),
        code=code,
        partition=partition,
        country=country,
        source=_src(f"region {cloud}:{code}"),
    )


def _regions() -> dict[str, CloudRegion]:
    rs = [
        _region("aws", "us-east-1", "US"),
        _region("aws", "eu-central-1", "DE"),
        _region("aws", "eu-west-2", "GB"),
        _region("aws", "eu-central-2", "CH"),
        _region("aws", "cn-north-1", "CN", partition="aws-cn"),
        _region("aws", "ap-east-1", "HK"),
        _region("aws", "me-central-1", "AE"),
        _region("azure", "chinanorth3", "CN", partition="AzureChinaCloud"),
        _region("aws", "ua-crimea-1", "UA-CRIMEA"),  # fictional: a member region under OFAC
    ]
    return {r.id: r for r in rs}


def _scope(sid: str, members: tuple[str, ...], *, glob: bool = False) -> RoutingScope:
    from registry.model import ScopeKind

    return RoutingScope(
        id=sid, kind=ScopeKind.BEDROCK_CRIS, name=sid, members=members, global_scope=glob, source=_src(f"scope {sid}")
    )


def _scopes() -> dict[str, RoutingScope]:
    ss = [
        _scope("aws-bedrock:eu", ("aws:eu-central-1", "aws:eu-west-2")),
        _scope("aws-bedrock:de", ("aws:eu-central-1",)),
        _scope("aws-bedrock:global", ("aws:us-east-1", "aws:eu-central-1"), glob=True),
        _scope("aws-bedrock:cn", ("aws:cn-north-1", "azure:chinanorth3")),
        _scope("aws-bedrock:ghost", ("aws:us-east-1", "aws:nowhere-1")),
        _scope("aws-bedrock:crimea", ("aws:eu-central-1", "aws:ua-crimea-1")),
    ]
    return {s.id: s for s in ss}


def _providers() -> dict[str, Provider]:
    ps = [
        Provider(
            id="anthropic",
            name="Anthropic",
            hq_country="US",
            ultimate_parent_country="US",
            hq_source=_src("Anthropic HQ"),
            customer_restrictions=(
                CustomerRestriction(
                    countries=("CN", "RU", "KP", "IR"),
                    min_ownership_share=0.5,
                    since=date(2025, 9, 5),
                    source=_src("Anthropic terms 2025-09-05"),
                ),
            ),
        ),
        Provider(
            id="zhipu",
            name="Zhipu AI",
            hq_country="CN",
            ultimate_parent_country="CN",
            hq_source=_src("Zhipu HQ"),
            entity_list=SourcedFlag(value=True, source=_src("BIS Entity List 2025-01-15")),
            entity_list_since=date(2025, 1, 15),
        ),
        Provider(id="meta", name="Meta", hq_country="US", ultimate_parent_country="US", hq_source=_src("Meta HQ")),
    ]
    return {p.id: p for p in ps}


ALL_TARGETS = (
    "aws:us-east-1",
    "aws:eu-central-1",
    "aws:eu-west-2",
    "aws:eu-central-2",
    "aws:cn-north-1",
    "aws:ap-east-1",
    "aws:me-central-1",
    "azure:chinanorth3",
    "aws:ua-crimea-1",
    "aws-bedrock:eu",
    "aws-bedrock:de",
    "aws-bedrock:global",
    "aws-bedrock:cn",
    "aws-bedrock:ghost",
    "aws-bedrock:crimea",
)


def _deploy(*targets: str) -> tuple[Deployment, ...]:
    return tuple(Deployment(target=t, source=_src(f"served in {t}")) for t in targets)


def _models() -> dict[str, Model]:
    ms = [
        # Open weights, served everywhere: the baseline that is allowed for ordinary tenants.
        Model(
            id="meta.llama",
            name="Llama",
            provider="meta",
            weights="open",
            deployments=_deploy(*ALL_TARGETS),
            source=_src("Llama"),
        ),
        # Covered frontier model with government -> partner -> public windows.
        Model(
            id="anthropic.frontier",
            name="Frontier",
            provider="anthropic",
            weights="closed",
            deployments=_deploy("aws:us-east-1", "aws:ap-east-1", "aws-bedrock:eu"),
            covered_frontier=CoveredFrontier(
                designated=True,
                government_access=_utc(GOV_ACCESS),
                trusted_partner_release=_utc(TP_RELEASE),
                public_release=_utc(PUBLIC),
                source=_src("EO 14409 designation"),
            ),
            trusted_partners=(
                TrustedPartner(tenant="partner", since=PARTNER_SINCE, source=_src("partner designation")),
            ),
            source=_src("Frontier"),
        ),
        # Per-model is-informed letter (US persons only) with a later trusted-partner exemption.
        Model(
            id="anthropic.mythos",
            name="Mythos",
            provider="anthropic",
            weights="closed",
            deployments=_deploy("aws:us-east-1"),
            export_restrictions=(
                ExportRestriction(
                    id="iil-2026-06-12",
                    issued=IIL,
                    trusted_partner_exempt_since=EXEMPT,
                    source=_src("Is-informed letter 2026-06-12"),
                    exemption_source=_src("Exemption letter 2026-06-26"),
                ),
            ),
            trusted_partners=(TrustedPartner(tenant="partner", since=IIL, source=_src("partner")),),
            source=_src("Mythos"),
        ),
        # Closed frontier through EU systemic risk only (no covered-frontier designation).
        Model(
            id="acme.systemic",
            name="Systemic",
            provider="meta",
            weights="closed",
            deployments=_deploy(*ALL_TARGETS),
            eu_gpai_systemic_risk=SourcedFlag(value=True, source=_src("EU AI Act Art. 51")),
            source=_src("Systemic"),
        ),
        # A restriction that was lifted, without any exemption.
        Model(
            id="acme.lifted",
            name="Lifted",
            provider="meta",
            weights="closed",
            deployments=_deploy("aws:us-east-1"),
            export_restrictions=(
                ExportRestriction(id="iil-lifted", issued=IIL, lifted=PUBLIC, source=_src("Lifted letter")),
            ),
            source=_src("Lifted"),
        ),
        Model(
            id="zai.glm",
            name="GLM",
            provider="zhipu",
            weights="open",
            deployments=_deploy("aws:us-east-1", "aws:cn-north-1", "aws-bedrock:cn", "aws-bedrock:global"),
            cn_genai_filed=SourcedFlag(value=True, source=_src("CAC filing list")),
            source=_src("GLM"),
        ),
        Model(
            id="meta.unfiled",
            name="Unfiled",
            provider="meta",
            weights="open",
            deployments=_deploy("aws:cn-north-1", "aws:us-east-1"),
            cn_genai_filed=SourcedFlag(value=False, source=_src("CAC filing list")),
            source=_src("Unfiled"),
        ),
    ]
    return {m.id: m for m in ms}


def _tenant(tid: str, hq: str, **kw: object) -> Tenant:
    return Tenant(id=tid, name=tid, hq_country=hq, **kw)  # type: ignore[arg-type]


def _tenants() -> dict[str, Tenant]:
    ts = [
        _tenant("acme", "US"),
        _tenant("gov", "US", government=True),
        _tenant("partner", "US"),
        _tenant("eu-co", "DE", residency=Residency(kind="eu_member_states")),
        _tenant("ch-co", "CH", residency=Residency(kind="countries", countries=("CH", "DE"))),
        _tenant("suspended-co", "US", suspended=True),
        _tenant("sanctioned-co", "US", sanctioned=True),
        _tenant("ir-co", "IR"),
        _tenant("cu-owned", "GB", parent_country="CU", parent_ownership_share=1.0),
        _tenant("sy-co", "SY"),
        _tenant("hk-co", "HK"),
        _tenant("mo-co", "MO"),
        _tenant("cn-owned", "SG", parent_country="CN", parent_ownership_share=0.6),
        _tenant("cn-minority", "SG", parent_country="CN", parent_ownership_share=0.3),
        _tenant("cn-public", "CN", public_facing=True),
        _tenant("cn-internal", "CN"),
    ]
    return {t.id: t for t in ts}


def fixture_registry() -> Registry:
    return Registry(
        jurisdictions=_jurisdictions(),
        regions=_regions(),
        scopes=_scopes(),
        providers=_providers(),
        models=_models(),
        tenants=_tenants(),
    )


def fixture_rego() -> str:
    """The generated Rego fixture: the compiled document and the fixture's instants."""
    registry = compile_data_document(fixture_registry())["tollgate"]["registry"]
    return (
        "# GENERATED by `python -m tests.policy.fixture_registry` from tests/policy/fixture_registry.py.\n"
        "# Do not edit: tests/policy/test_pack.py fails when this file is stale.\n"
        "package tollgate.routing_test\n\n"
        "import rego.v1\n\n"
        f"times := {json.dumps(TIMES, indent=1, sort_keys=True)}\n\n"
        f"registry := {json.dumps(registry, indent=1, sort_keys=True)}\n"
    )


def write_fixture(path: Path = FIXTURE_REGO) -> None:
    path.write_text(fixture_rego(), encoding="utf-8")


if __name__ == "__main__":
    write_fixture()
    print(f"wrote {FIXTURE_REGO}")
