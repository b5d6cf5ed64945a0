"""The shipped catalog: complete against the research, sourced, and the demo set clearly labelled."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import BaseModel

from registry.io import CATALOG_DIR, load_shipped
from registry.model import Confidence, Registry, Source
from registry.validate import validate

RESEARCH = Path(__file__).resolve().parents[2].parent / "shared" / "research"
needs_research = pytest.mark.skipif(
    not (RESEARCH / "regions.csv").is_file(), reason=f"research not available at {RESEARCH}"
)


@pytest.fixture(scope="module")
def catalog() -> Registry:
    return load_shipped(include_demo=False)


@pytest.fixture(scope="module")
def with_demo() -> Registry:
    return load_shipped(include_demo=True)


def rows(name: str) -> list[dict[str, str]]:
    with (RESEARCH / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_catalog_loads_and_validates(catalog: Registry, with_demo: Registry) -> None:
    assert validate(catalog) == []
    assert validate(with_demo) == []
    assert catalog.tenants == {}  # the sourced catalog has no customer tenants
    assert len(catalog.regions) == 167 and len(catalog.scopes) == 11


@needs_research
def test_every_cloud_region_in_research_is_present(catalog: Registry) -> None:
    expected = [r for r in rows("regions.csv") if r["country"] and not r["region"].startswith("global")]
    assert {r["cloud"] for r in expected} == {"aws", "azure", "gcp"}
    for r in expected:
        region = catalog.regions[f"{r['cloud']}:{r['region']}"]
        assert region.country == r["country"]
        assert region.source.ref == r["jurisdiction_notes"]
    assert len(catalog.regions) == len(expected)


@needs_research
def test_every_country_group_row_is_present(catalog: Registry) -> None:
    for r in rows("country_groups.csv"):
        group, code = r["group"], r["country_iso2"]
        if group[:2] in {"A:", "D:", "E:"} and "_" not in group:
            groups = {(g.group, g.until) for g in catalog.jurisdictions[code].ear_groups}
            assert (group, None) in groups, (group, code)
        elif group == "AIA_2025_RESCINDED":
            (aia,) = [g for g in catalog.jurisdictions[code].ear_groups if g.group == "AIA-TIER1-2025"]
            assert aia.historical and aia.since == date(2025, 1, 13) and aia.until == date(2025, 5, 13)
    counts = {g: sum(1 for j in catalog.jurisdictions.values() for m in j.ear_groups if m.group == g and not m.until)
              for g in ("A:1", "A:5", "A:6", "D:1", "D:2", "D:3", "D:4", "D:5", "E:1", "E:2")}
    assert counts == {"A:1": 40, "A:5": 37, "A:6": 8, "D:1": 24, "D:2": 10, "D:3": 37, "D:4": 22, "D:5": 22,
                      "E:1": 3, "E:2": 1}


def test_jurisdiction_facts(catalog: Registry) -> None:
    j = catalog.jurisdictions
    kh_d5 = [g for g in j["KH"].ear_groups if g.group == "D:5"]
    assert [g.until for g in kh_d5] == [date(2026, 2, 3)]
    assert any(g.group == "D:1" for g in j["KH"].ear_groups)
    comprehensive = {c for c, x in j.items() if x.ofac and x.ofac[-1].program == "comprehensive"}
    assert comprehensive == {"CU", "IR", "KP", "UA-CRIMEA", "UA-DNR", "UA-LNR"}
    assert [(s.program.value, s.until, s.since) for s in j["SY"].ofac] == [
        ("comprehensive", date(2025, 6, 30), None), ("targeted", None, date(2025, 6, 30))]
    assert j["RU"].ofac[-1].program == "targeted" and j["BY"].ofac[-1].program == "targeted"
    assert {c for c in ("UA-CRIMEA", "UA-DNR", "UA-LNR") if j[c].parent == "UA"} == {"UA-CRIMEA", "UA-DNR", "UA-LNR"}
    assert j["HK"].treated_as and j["HK"].treated_as.jurisdiction == "CN"
    assert j["MO"].treated_as and j["MO"].treated_as.source.confidence == Confidence.UNCONFIRMED
    assert {c for c, x in j.items() if x.efta and x.efta.value} == {"IS", "LI", "NO", "CH"}
    eu = {c for c, x in j.items() if x.eu_member and x.eu_member.value}
    assert len(eu) == 27 and not eu & {"GB", "CH", "NO", "IS", "LI"}
    assert j["DE"].eu_member and j["DE"].eu_member.source.confidence == Confidence.SECONDARY
    assert j["MT"].eu_member and j["MT"].eu_member.source.confidence == Confidence.UNCONFIRMED
    iceland_a1 = next(g for g in j["IS"].ear_groups if g.group == "A:1")
    assert iceland_a1.source.confidence == Confidence.UNCONFIRMED
    assert all(g.source.confidence == Confidence.UNCONFIRMED for x in j.values() for g in x.ear_groups
               if g.group in ("A:5", "A:6"))
    assert not any(g.group == "D:5" for g in j["ET"].ear_groups)
    assert j["ET"].notes[0].confidence == Confidence.UNCONFIRMED


def test_scopes_and_traps(catalog: Registry) -> None:
    s = catalog.scopes
    for geo in ("us", "eu", "apac", "jp", "au", "us-gov", "global"):
        assert f"aws-bedrock:{geo}" in s
    assert {"aws:eu-west-2", "aws:eu-central-2"} <= set(s["aws-bedrock:eu"].members)
    assert {"aws:me-central-1", "aws:ap-east-2"} <= set(s["aws-bedrock:apac"].members)
    assert set(s["aws-bedrock:jp"].members) == {"aws:ap-northeast-1", "aws:ap-northeast-3"}
    assert set(s["aws-bedrock:au"].members) == {"aws:ap-southeast-2", "aws:ap-southeast-4"}
    assert set(s["aws-bedrock:us-gov"].members) == {"aws:us-gov-east-1", "aws:us-gov-west-1"}
    for sid in ("aws-bedrock:global", "azure-global:standard", "gcp-vertex:global"):
        scope = s[sid]
        assert scope.global_scope
        assert all(catalog.regions[m].partition in ("aws", "AzureCloud", "gcp") for m in scope.members)
    assert len(s["aws-bedrock:global"].members) == 34
    eu_zone = {catalog.regions[m].country for m in s["azure-datazone:eu"].members}
    assert not eu_zone & {"GB", "CH", "NO"}
    assert {catalog.regions[m].country for m in s["azure-datazone:us"].members} == {"US"}
    assert not any(sid.startswith(("gcp-vertex:us", "gcp-vertex:eu")) for sid in s)


def test_providers_and_models(catalog: Registry) -> None:
    zhipu = catalog.providers["zhipu"]
    assert zhipu.entity_list and zhipu.entity_list.value and zhipu.entity_list_since == date(2025, 1, 15)
    (bar,) = catalog.providers["anthropic"].customer_restrictions
    assert set(bar.countries) == {"CN", "RU", "KP", "IR"} and bar.min_ownership_share == 0.5
    assert bar.since == date(2025, 9, 5) and bar.source.confidence == Confidence.CONFIRMED
    m = catalog.models
    (mythos,) = m["anthropic.claude-mythos-5"].export_restrictions
    (fable,) = m["anthropic.claude-fable-5"].export_restrictions
    assert mythos.issued == fable.issued == date(2026, 6, 12) and mythos.scope == "foreign_persons"
    assert mythos.trusted_partner_exempt_since == date(2026, 6, 26) and fable.trusted_partner_exempt_since is None
    assert mythos.source.confidence == Confidence.CONFIRMED
    assert m["openai.gpt-5.6"].source.confidence == Confidence.UNCONFIRMED
    assert m["openai.gpt-oss-120b"].weights == "open" and m["openai.gpt-5.5"].weights == "closed"
    assert not any(x.covered_frontier for x in m.values())  # designations are classified
    assert {d.target for d in m["anthropic.claude-opus-5"].deployments} == {"azure-global:standard",
                                                                           "azure-datazone:us"}
    assert [d.target for d in m["amazon.nova-lite"].deployments] == ["aws:us-gov-west-1"]
    assert [d.target for d in m["ai21.jamba-1-5-large"].deployments] == ["aws:us-east-1"]
    for mid in ("anthropic.claude-opus-4-7", "google.gemini-3.1-pro", "meta.llama-3.1-70b-instruct",
                "deepseek.deepseek-r1", "qwen.qwen3-235b-a22b-2507", "moonshot.kimi-k2-thinking", "zai.glm-4.7",
                "zai.glm-4.7-flash", "zai.glm-5", "minimax.minimax-m2.5", "amazon.nova-micro",
                "mistral.mistral-large-2407"):
        assert mid in m


def _walk(obj: object, path: str = "") -> Iterator[tuple[str, BaseModel]]:
    if isinstance(obj, BaseModel):
        yield path, obj
        for name in type(obj).model_fields:
            yield from _walk(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, tuple | list):
        for i, item in enumerate(obj):
            yield from _walk(item, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield from _walk(item, f"{path}[{key}]")


def test_every_external_fact_has_a_source(catalog: Registry) -> None:
    seen = 0
    for path, obj in _walk(catalog):
        for field in ("source", "hq_source"):
            if field in type(obj).model_fields:
                value = getattr(obj, field)
                assert isinstance(value, Source), f"{path}.{field} has no source"
                assert value.ref.strip() and "DEMO" not in value.ref, path
                seen += 1
        assert not getattr(obj, "demo", False), f"demo data in the sourced catalog: {path}"
    assert seen > 400


def test_demo_set_is_labelled(with_demo: Registry) -> None:
    for f in (CATALOG_DIR / "demo").glob("*.yaml"):
        assert f.read_text(encoding="utf-8").startswith("# DEMO DATA"), f
    assert len(with_demo.tenants) >= 10 and all(t.demo for t in with_demo.tenants.values())
    frontier = with_demo.models["demo.frontier-x"]
    assert frontier.demo and frontier.covered_frontier and frontier.covered_frontier.designated
    assert [tp.tenant for tp in frontier.trusted_partners] == ["demo-trusted-partner"]
    cn = with_demo.models["demo.cn-chat"]
    assert cn.cn_genai_filed and cn.cn_genai_filed.value and [d.target for d in cn.deployments] == ["aws:cn-north-1"]
    for model in with_demo.models.values():
        for d in model.deployments:
            assert d.demo == (d.source.ref.startswith("DEMO DATA")), (model.id, d.target)
    t = with_demo.tenants
    assert t["demo-sg-cn-owned"].parent_country == "CN" and t["demo-sg-cn-owned"].parent_ownership_share > 0.5
    assert t["demo-de-eu-resident"].residency.kind == "eu_member_states"
    assert t["demo-ch-countries"].residency.countries == ("CH",)


@needs_research
def test_committed_catalog_matches_the_research() -> None:
    from registry.catalog import build

    assert build.main(["--research", str(RESEARCH), "--check"]) == 0
