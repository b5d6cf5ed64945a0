"""Jurisdictions: EAR country groups, OFAC programmes, EU/EFTA membership, treated-as rules."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from registry.catalog.build.common import C, S, U, src
from registry.model import (
    GroupMembership,
    Jurisdiction,
    OfacProgram,
    OfacStatus,
    Source,
    SourcedFlag,
    Treatment,
)

# Names for codes that country_groups.csv does not name (it names every other code it lists).
EXTRA_NAMES = {
    "BR": "Brazil",
    "CL": "Chile",
    "ID": "Indonesia",
    "MY": "Malaysia",
    "TH": "Thailand",
    "LI": "Liechtenstein",
    "UA": "Ukraine",
}
SUBNATIONAL = {"Crimea": "UA-CRIMEA", "(DNR)": "UA-DNR", "(LNR)": "UA-LNR"}
SUBNATIONAL_NAMES = {
    "UA-CRIMEA": "Crimea region of Ukraine",
    "UA-DNR": "so-called Donetsk People's Republic",
    "UA-LNR": "so-called Luhansk People's Republic",
}
EU27 = (
    "AT",
    "BE",
    "BG",
    "HR",
    "CY",
    "CZ",
    "DK",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "HU",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SK",
    "SI",
    "ES",
    "SE",
)
EFTA = ("IS", "LI", "NO", "CH")
A_AS_OF, DE_AS_OF = date(2026, 6, 20), date(2026, 7, 8)
AIA_SINCE, AIA_UNTIL = date(2025, 1, 13), date(2025, 5, 13)

EFTA_REF = (
    "domain.md 2.3 Microsoft EU Data Boundary [C]: data stored and processed within the EU + EFTA "
    "(adds Iceland, Liechtenstein, Norway, Switzerland) (Microsoft blog via ITPro, TechRadar)"
)
NOT_EU_REF = (
    "domain.md 2.3 [derived]: UK, Switzerland and Norway resources are not EU member states; "
    "regions.csv notes 'not EU' / 'UK not EU'"
)
EU_GENERAL_REF = (
    "General knowledge, not in the research: EU member state. The research evidences EU "
    "membership only through regions.csv notes ('EU member'), which do not cover this country."
)
RU_REF = (
    "domain.md 1.3 [C]: Russia and Belarus are not comprehensively sanctioned but carry extensive "
    "restrictions. OFAC's June 12, 2024 determination under EO 14071, effective Sept 12, 2024, bans US "
    "persons from supplying IT consultancy and design services, IT support or cloud-based services for "
    "enterprise-management and design/manufacturing software to persons in Russia (OFAC FAQ page, "
    "Miller & Chevalier, Hogan Lovells). EAR 746.8 imposes a licence requirement for every CCL item to RU/BY."
)
OFAC_REF_SUFFIX = " (domain.md 1.3: aalep.eu, legalclarity.org citing OFAC [C])"


@dataclass
class _J:
    name: str | None = None
    parent: str | None = None
    groups: list[GroupMembership] = field(default_factory=list)
    ofac: list[OfacStatus] = field(default_factory=list)
    eu: SourcedFlag | None = None
    efta: SourcedFlag | None = None
    treated_as: Treatment | None = None
    notes: list[Source] = field(default_factory=list)


def build_jurisdictions(groups_csv: list[dict[str, str]], regions_csv: list[dict[str, str]]) -> list[Jurisdiction]:
    js: dict[str, _J] = defaultdict(_J)
    special_names: dict[str, str] = {}
    for row in groups_csv:
        group, code, name, ref = row["group"], row["country_iso2"], row["country_name"], row["source"]
        if group in ("A:1", "A:5", "A:6", "D:1", "D:2", "D:3", "D:4", "D:5", "E:1", "E:2"):
            js[code].name = name
            if group in ("A:5", "A:6"):
                conf = U  # domain.md 1.1 [U]: A:5/A:6 parsed from a lossy table render
            elif "UNCONFIRMED" in ref:
                conf = U  # Iceland in A:1
            else:
                conf = S  # domain.md 1.1 labels the lists [C/S]
            as_of = A_AS_OF if group.startswith("A") else DE_AS_OF
            js[code].groups.append(GroupMembership(group=group, source=src(ref, conf, as_of)))
        elif group == "D:5_REMOVED":
            special_names[code] = name
            js[code].groups.append(
                GroupMembership(group="D:5", until=date(2026, 2, 3), source=src(ref, C, date(2026, 2, 3)))
            )
            js[code].notes.append(
                src(
                    "domain.md 1.1 [C]: State removed Cambodia from ITAR 126.1 effective Nov 7, 2025 (D:5 tracks "
                    "126.1, so the State change takes effect before BIS edits the EAR); BIS conforming rule published "
                    "Feb 3, 2026 (Fenwick, Crowell via Mondaq, DLA Piper). The D:5 window above ends on the BIS date.",
                    C,
                    date(2026, 2, 3),
                )
            )
        elif group == "D:5_STATUS_UNCONFIRMED":
            special_names[code] = name
            js[code].notes.append(src(ref + " (not recorded as a D:5 membership)", U))
        elif group == "MACAU_SPECIAL":
            js[code].notes.append(src(ref, C))
            js[code].treated_as = Treatment(
                jurisdiction="CN",
                source=src(
                    "UNCONFIRMED: issue #2 says Hong Kong and Macau are treated as China for EAR purposes; the "
                    "research says so only for Hong Kong. For Macau it says: " + ref,
                    U,
                ),
            )
        elif group == "HK_AS_CN":
            special_names[code] = name
            js[code].treated_as = Treatment(jurisdiction="CN", source=src(ref, S))  # domain.md 1.1 [S]
        elif group == "AIA_2025_RESCINDED":
            js[code].groups.append(_aia(ref))
        elif group == "OFAC_COMPREHENSIVE":
            target = next((v for k, v in SUBNATIONAL.items() if k in name), code)
            if target != code:
                js[target].parent = code
                js[code]  # the parent country is a jurisdiction too
            full_ref = ref if "(" in ref else ref + OFAC_REF_SUFFIX
            js[target].ofac.append(OfacStatus(program=OfacProgram.COMPREHENSIVE, source=src(full_ref, C)))
        elif group == "OFAC_COMPREHENSIVE_REMOVED":
            removed = date(2025, 6, 30)  # EO 14312 (June 30 2025) revoked the Syria sanctions program
            js[code].ofac += [
                OfacStatus(program=OfacProgram.COMPREHENSIVE, until=removed, source=src(ref, C, removed)),
                OfacStatus(program=OfacProgram.TARGETED, since=removed, source=src(ref, C, removed)),
            ]
        elif group != "group":
            raise SystemExit(f"country_groups.csv: unknown group {group!r}; teach build.py about it")
    js["US"].groups.append(
        GroupMembership(
            group="AIA-TIER1-2025",
            historical=True,
            since=AIA_SINCE,
            until=AIA_UNTIL,
            source=src(
                "domain.md 1.2 [C]: Tier 1 is the US plus the 18 AIA countries (Supp. No. 5 to Part 740 "
                "para (a)); AI Diffusion IFR 90 FR 4544 effective Jan 13, 2025; rescission announced May 13, "
                "2025 (frtracker/frnow, Akin, Faegre Drinker, Arnold & Porter; MoFo, Alston & Bird)",
                C,
            ),
        )
    )
    for code in ("RU", "BY"):
        js[code].ofac.append(OfacStatus(program=OfacProgram.TARGETED, source=src(RU_REF, C, date(2024, 9, 12))))

    evidenced: dict[str, list[str]] = defaultdict(list)
    for row in regions_csv:
        if row["country"]:
            js[row["country"]]  # every region country is a jurisdiction
        if "EU member" in row["jurisdiction_notes"]:
            evidenced[row["country"]].append(f"{row['cloud']}:{row['region']}")
    for code in EU27:
        if code in evidenced:
            ref = "regions.csv jurisdiction_notes say 'EU member: EU AI Act' for " + ", ".join(evidenced[code])
            js[code].eu = SourcedFlag(value=True, source=src(ref, S))
        else:
            js[code].eu = SourcedFlag(value=True, source=src(EU_GENERAL_REF, U))
    for code in EFTA:
        js[code].efta = SourcedFlag(value=True, source=src(EFTA_REF, C))
        ref = NOT_EU_REF if code in ("CH", "NO") else EFTA_REF + " -- i.e. not EU"
        js[code].eu = SourcedFlag(value=False, source=src(ref, S))
    js["GB"].eu = SourcedFlag(value=False, source=src(NOT_EU_REF, S))

    out = []
    for code, j in sorted(js.items()):
        label = j.name or SUBNATIONAL_NAMES.get(code) or EXTRA_NAMES.get(code) or special_names.get(code)
        if not label:
            raise SystemExit(f"no name for jurisdiction {code}; add it to EXTRA_NAMES")
        out.append(
            Jurisdiction(
                code=code,
                name=label,
                parent=j.parent,
                ear_groups=tuple(sorted(j.groups, key=lambda g: (g.group, g.since or date.min))),
                ofac=tuple(j.ofac),
                eu_member=j.eu,
                efta=j.efta,
                treated_as=j.treated_as,
                notes=tuple(j.notes),
            )
        )
    return out


def _aia(ref: str) -> GroupMembership:
    return GroupMembership(
        group="AIA-TIER1-2025", historical=True, since=AIA_SINCE, until=AIA_UNTIL, source=src(ref, C, AIA_SINCE)
    )
