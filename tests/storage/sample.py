"""Small, valid registries built in code (independent of the shipped catalog files)."""

from __future__ import annotations

from datetime import UTC, datetime

from registry.model import (
    CloudRegion,
    CoveredFrontier,
    Jurisdiction,
    Model,
    Provider,
    Registry,
    RoutingScope,
    Source,
    Tenant,
)

SRC = Source(ref="test fixture", confidence="confirmed")


def jurisdiction(code: str, name: str) -> Jurisdiction:
    return Jurisdiction(code=code, name=name)


def region(cloud: str, code: str, country: str) -> CloudRegion:
    return CloudRegion(
        id=f"{cloud}:{code}", cloud=cloud, code=code, partition=cloud, country=country, source=SRC
    )


def tenant(tid: str, country: str = "DE", name: str | None = None) -> Tenant:
    return Tenant(id=tid, name=name or f"Tenant {tid}", hq_country=country, demo=True)


def model(mid: str, targets: tuple[str, ...] = ("aws:us-east-1",)) -> Model:
    return Model(
        id=mid,
        name=f"Model {mid}",
        provider="anthropic",
        weights="closed",
        deployments=tuple({"target": t, "source": SRC} for t in targets),
        covered_frontier=CoveredFrontier(
            designated=True,
            government_access=datetime(2026, 6, 1, tzinfo=UTC),
            public_release=datetime(2026, 7, 1, tzinfo=UTC),
            source=SRC,
        ),
        source=SRC,
    )


def sample_registry(tenants: int = 3) -> Registry:
    js = [jurisdiction("US", "United States"), jurisdiction("DE", "Germany"),
          jurisdiction("GB", "United Kingdom"), jurisdiction("CN", "China")]
    rs = [region("aws", "us-east-1", "US"), region("aws", "eu-central-1", "DE"),
          region("aws", "eu-west-2", "GB")]
    scope = RoutingScope(
        id="aws-bedrock:eu", kind="bedrock_cris", name="Bedrock EU",
        members=("aws:eu-central-1", "aws:eu-west-2"), source=SRC,
    )
    prov = Provider(
        id="anthropic", name="Anthropic", hq_country="US", ultimate_parent_country="US", hq_source=SRC
    )
    ms = [model("anthropic.claude-a"), model("anthropic.claude-b", ("aws-bedrock:eu",))]
    ts = [tenant(f"tenant-{i:05d}", "DE" if i % 2 else "US") for i in range(tenants)]
    return Registry(
        jurisdictions={j.code: j for j in js},
        regions={r.id: r for r in rs},
        scopes={scope.id: scope},
        providers={prov.id: prov},
        models={m.id: m for m in ms},
        tenants={t.id: t for t in ts},
    )
