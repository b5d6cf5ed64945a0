"""Cloud regions: country, partition and operator of each region in regions.csv."""

from __future__ import annotations

import re

from registry.catalog.build.common import C, S, U, src
from registry.model import (
    CloudRegion,
)

# Parenthesised AWS display-name parts that are not a place (or only repeat the country).
_NOT_A_CITY = {
    "Central",
    "US-East",
    "US-West",
    "Spain",
    "Malaysia",
    "New Zealand",
    "Thailand",
    "UAE",
    "Bahrain",
    "Ireland",
    "Germany",
}
_AZURE_PARTITIONS = (  # first matching note wins, so the more specific labels come first
    ("Azure Government Top Secret", "AzureUSGovernmentTopSecret", True),
    ("Azure Government Secret", "AzureUSGovernmentSecret", True),
    ("Azure Government", "AzureUSGovernment", True),
    ("Azure China cloud", "AzureChinaCloud", False),
    ("Microsoft Cloud Deutschland", "AzureGermanCloud", False),
)


def is_note_row(row: dict[str, str]) -> bool:
    """The ``global`` rows describe routing scopes, not regions."""
    return not row["country"] or row["region"].startswith("global")


def build_regions(rows: list[dict[str, str]], names: dict[str, str]) -> list[CloudRegion]:
    out = []
    for row in rows:
        if is_note_row(row):
            continue
        cloud, code, country, notes = row["cloud"], row["region"], row["country"], row["jurisdiction_notes"]
        head = notes.split(";")[0].split(" [")[0].strip()
        city: str | None = None
        name: str | None = None
        partition: str
        restricted = False
        if cloud == "aws":
            name = head
            m = re.search(r"\(([^)]+)\)", head)
            city = m.group(1) if m and m.group(1) not in _NOT_A_CITY else None
            pm = re.search(r"partition (aws[a-z-]*)", notes)
            partition = pm.group(1) if pm else "aws"
            restricted = partition.startswith(("aws-us-gov", "aws-iso"))
            conf = U if "UNCONFIRMED country" in notes else C
        elif cloud == "azure":
            partition = "AzureCloud"
            for label, part, gov in _AZURE_PARTITIONS:
                if label in notes:
                    partition, restricted = part, gov
                    break
            if head.startswith("US "):
                name = head  # "US DoD Central" etc. name the region, not a place
            elif "general knowledge" not in head and "not confirmed" not in head and head != names[country]:
                city = head  # cities are from a list-locations mirror [S]
            conf = U if re.search(r"UNCONFIRMED: seen only|may be retired \(UNCONFIRMED\)", notes) else S
        else:
            partition, city, conf = "gcp", head, C
        out.append(
            CloudRegion(
                id=f"{cloud}:{code}",
                cloud=cloud,
                code=code,
                partition=partition,
                country=country,
                city=city,
                name=name,
                restricted_access=restricted,
                source=src(notes, conf),
            )
        )
    return out
