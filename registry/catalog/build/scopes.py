"""Routing scopes: cross-region inference profiles and data zones, with their member regions."""

from __future__ import annotations

import re
from collections.abc import Callable

from registry.catalog.build.common import C, S, src
from registry.catalog.build.regions import is_note_row
from registry.model import (
    CloudRegion,
    RoutingScope,
    ScopeKind,
)

CRIS_REF = (
    "Amazon Bedrock cross-Region inference (CRIS) geographic profiles US, EU, APAC, JP, AU, US-GOV, plus "
    "GLOBAL (all commercial regions) (docs.aws.amazon.com bedrock geographic-cross-region-inference and "
    "inference-profiles-support; aws/aws-cdk cross-region-inference-profile.ts)"
)
AZURE_REF = (
    "Azure OpenAI / Microsoft Foundry deployment types (learn.microsoft.com Azure OpenAI deployment-types): "
    "Global: processing may happen in any Azure region; Data Zone: processing stays within the US if the "
    "resource is in the US, or within EU member states if the resource is in an EU member state"
)
CRIS_GEOS = {  # geography -> (display, pattern in regions.csv notes)
    "us": ("Bedrock CRIS US", r"Bedrock US CRIS"),
    "eu": ("Bedrock CRIS EU", r"Bedrock EU CRIS"),
    "apac": ("Bedrock CRIS APAC", r"APAC CRIS"),
    "jp": ("Bedrock CRIS JP", r"Bedrock JP"),
    "au": ("Bedrock CRIS AU", r"Bedrock AU"),
    "us-gov": ("Bedrock CRIS US-GOV", r"Bedrock US-GOV CRIS"),
}
TRAPS = {
    "eu": "Residency trap (domain.md 2.3 [C]): the 'EU' geography can include eu-west-2 London (GB) and "
    "eu-central-2 Zurich (CH), which are not EU members.",
    "apac": "Residency trap (domain.md 2.3 [C]): the 'APAC' geography can include me-central-1 (UAE, D:3/D:4) "
    "and ap-east-2 (Taipei).",
}


def build_scopes(rows: list[dict[str, str]], regions: list[CloudRegion], eu: set[str]) -> list[RoutingScope]:
    notes_of = {f"{r['cloud']}:{r['region']}": r["jurisdiction_notes"] for r in rows if not is_note_row(r)}
    note_rows = {r["cloud"]: r["jurisdiction_notes"] for r in rows if is_note_row(r)}
    out = []
    for geo, (display, pattern) in CRIS_GEOS.items():
        members = tuple(sorted(rid for rid, n in notes_of.items() if rid.startswith("aws:") and re.search(pattern, n)))
        notes = [
            src(
                f"Members from the research's per-region notes (regions.csv '{pattern}', citing aws-cdk); "
                "AWS can add regions to a geography at any time.",
                C,
            )
        ]
        if geo in TRAPS:
            notes.append(src(TRAPS[geo], C))
        out.append(
            RoutingScope(
                id=f"aws-bedrock:{geo}",
                kind=ScopeKind.BEDROCK_CRIS,
                name=display,
                members=members,
                source=src(CRIS_REF, C),
                notes=tuple(notes),
            )
        )

    def ids(pred: Callable[[CloudRegion], bool]) -> tuple[str, ...]:
        return tuple(sorted(r.id for r in regions if pred(r)))

    aws_commercial = ids(lambda r: r.cloud == "aws" and r.partition == "aws")
    out.append(
        RoutingScope(
            id="aws-bedrock:global",
            kind=ScopeKind.BEDROCK_CRIS,
            name="Bedrock CRIS GLOBAL",
            members=aws_commercial,
            global_scope=True,
            source=src(f"regions.csv aws 'global.*' row: {note_rows['aws']}; {CRIS_REF}", C),
            notes=(
                src(
                    "Members derived: every region of the commercial 'aws' partition in regions.csv (not aws-cn, "
                    "aws-us-gov, aws-iso*, aws-eusc).",
                    S,
                ),
            ),
        )
    )

    public = [r for r in regions if r.cloud == "azure" and r.partition == "AzureCloud"]
    marked = sorted(r.id for r in public if re.search(r"(?<!not in )Azure EU Data Zone", notes_of[r.id]))
    eu_members = tuple(sorted(r.id for r in public if r.country in eu))
    extra = sorted(set(eu_members) - set(marked))
    out.append(
        RoutingScope(
            id="azure-datazone:eu",
            kind=ScopeKind.AZURE_DEPLOYMENT,
            name="Azure Data Zone EU",
            members=eu_members,
            source=src(AZURE_REF, C),
            notes=(
                src("Regions the research marks 'Azure EU Data Zone' (regions.csv): " + ", ".join(marked), C),
                src(
                    "Added by derivation from the Data Zone rule (AzureCloud regions in EU member states), so that "
                    "residency checks see every region the zone may use: " + ", ".join(extra),
                    S,
                ),
                src(
                    "domain.md 2.3 [derived]: UK, Switzerland and Norway resources are not EU member states, so "
                    "they are not in the EU Data Zone.",
                    S,
                ),
            ),
        )
    )
    out.append(
        RoutingScope(
            id="azure-datazone:us",
            kind=ScopeKind.AZURE_DEPLOYMENT,
            name="Azure Data Zone US",
            members=tuple(sorted(r.id for r in public if r.country == "US")),
            source=src(AZURE_REF, C),
            notes=(src("Members derived from the Data Zone rule: AzureCloud regions in the US (regions.csv).", S),),
        )
    )
    out.append(
        RoutingScope(
            id="azure-global:standard",
            kind=ScopeKind.AZURE_DEPLOYMENT,
            name="Azure Global Standard",
            members=tuple(sorted(r.id for r in public)),
            global_scope=True,
            source=src(AZURE_REF, C),
            notes=(
                src(
                    "Members derived: every public AzureCloud region in regions.csv (not China, Government or "
                    "Deutschland clouds).",
                    S,
                ),
            ),
        )
    )
    out.append(
        RoutingScope(
            id="gcp-vertex:global",
            kind=ScopeKind.VERTEX,
            name="Vertex AI global endpoint",
            members=ids(lambda r: r.cloud == "gcp"),
            global_scope=True,
            source=src(
                f"regions.csv gcp 'global' row: {note_rows['gcp']} (docs.cloud.google.com vertex-ai "
                "locations-genai; domain.md 2.3 [C]: Google says not to use it with processing-location "
                "requirements)",
                C,
            ),
            notes=(src("Members derived: every Google Cloud region in regions.csv.", S),),
        )
    )
    return out
