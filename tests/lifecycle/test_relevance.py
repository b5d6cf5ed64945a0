"""Change relevance: which fields a change can read (relevance/), and that the two-stage matrix
it enables reports exactly the changes of the exact matrix alone."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from broker.lifecycle.files import PolicySet
from broker.lifecycle.impact import ImpactRequest, analyze
from broker.lifecycle.impact.relevance import analyse, try_analyse
from broker.lifecycle.impact.relevance.regoast import Unsupported
from broker.lifecycle.sources import StaticRegistrySource
from registry.model import Registry
from tests.lifecycle.conftest import changed, shipped_pack, suspended_allowed_pack
from tests.lifecycle.synthetic import with_synthetic_tenants
from tests.lifecycle.test_impact import NOW, _deployment_rule
from tests.policy.fixture_registry import fixture_registry

R = "tollgate.routing"
MAIN = "tollgate/routing/main.rego"

# A small pack shaped like the shipped one: the decision looks records up once, merges each
# concern's reasons with `|`, and lists time edges that only feed valid_until_ns.
BASE = """package tollgate.routing

import rego.v1

decision := {"allow": reasons == set(), "reasons": reasons, "valid_until_ns": vu} if {
	reg := data.tollgate.registry
	tenant := reg.tenants[input.tenant]
	target := reg.targets[input.target]
	reasons := {r | tenant.residency.kind != "none"; some r in residency(tenant, target)} |
		{r | some r in flags(tenant)}
	future := {t | some t in tenant.edges}
	vu := max(future)
}

residency(tenant, target) := {r |
	some m in target.member_facts
	not m.country in tenant.residency.countries
	r := {"code": "RESIDENCY", "facts": {"region": m.region, "allowed": tenant.residency.countries}}
}

flags(tenant) := {"SUSPENDED"} if is_suspended(tenant) else := set()

is_suspended(tenant) if tenant.suspended == true
"""


def _pack(text: str) -> dict[str, str]:
    return {"p/main.rego": text}


def _edit(old: str, new: str, text: str = BASE) -> dict[str, str]:
    assert old in text, old
    return _pack(text.replace(old, new))


# --- the analysis ---------------------------------------------------------------------------------


def test_layout_and_comment_edits_change_no_rule() -> None:
    cand = BASE.replace("\t", "    ").replace("if {\n", "if {\n  # a comment\n\n").replace(" := ", " :=  ")
    assert analyse(_pack(BASE), _pack(cand)).changed == ()
    assert analyse(_pack(BASE), {**_pack(BASE), "p/main_test.rego": "package x\n\ntest_x if false\n"}).changed == ()
    pset = shipped_pack()
    moved = {p: t.replace("\n\n", "\n\n# moved\n\n") for p, t in pset.modules.items()}
    assert analyse(pset.modules, moved).changed == ()


def test_editing_one_concern_changes_exactly_that_rule_and_reads_only_its_fields() -> None:
    rel = analyse(_pack(BASE), _edit("tenant.suspended == true", 'tenant.suspended == "yes"'))
    assert rel.changed == (f"{R}.is_suspended",)
    assert rel.down == {(R, "is_suspended")}
    assert rel.up == {(R, "flags"), (R, "decision")}
    names = rel.fields.names()
    assert "suspended" in rel.fields.whole
    # the residency concern's comprehension cannot see the change, and valid_until_ns is not compared
    assert not names & {"member_facts", "countries", "country", "edges"}


def test_a_residency_edit_reads_path_and_whole_fields() -> None:
    rel = analyse(_pack(BASE), _edit("not m.country in tenant.residency.countries",
                                     'not m.country in object.get(tenant, ["residency", "countries"], [])'))
    assert rel.changed == (f"{R}.residency",)
    f = rel.fields
    assert "residency" in f.path and "residency" not in f.whole  # only read below
    assert {"kind", "countries", "country", "region"} <= f.whole
    assert "member_facts" in f.keyed
    assert not f.names() & {"suspended", "edges"}


def test_closures_follow_calls_both_ways() -> None:
    cand = BASE.replace("if tenant.suspended == true", "if {\n\ttenant.suspended == true\n\tnot exempt(tenant)\n}")
    cand += "\nexempt(tenant) if tenant.exempt == true\n"
    rel = analyse(_pack(BASE), _pack(cand))
    assert rel.changed == (f"{R}.exempt", f"{R}.is_suspended")
    assert rel.down == {(R, "is_suspended"), (R, "exempt")}
    assert rel.up == {(R, "flags"), (R, "decision")}
    assert {"suspended", "exempt"} <= rel.fields.whole


def test_a_comprehension_that_guards_the_change_is_read() -> None:
    base = BASE.replace(
        '\treasons := {r | tenant.residency.kind != "none"; some r in residency(tenant, target)}',
        '\tblocked := {1 | tenant.blocked == true}\n'
        '\treasons := {r | count(blocked) == 0; some r in residency(tenant, target)}',
    )
    rel = analyse(_pack(base), _edit("not m.country in", "not m.code in", base))
    assert "blocked" in rel.fields.whole  # blocked decides whether residency is asked at all


def test_lookups_by_id_and_iteration_are_told_apart() -> None:
    cand = BASE.replace("not m.country in tenant.residency.countries",
                        "not m.country in tenant.residency.countries\n\tnot target.waivers[tenant.id]")
    f = analyse(_pack(BASE), _pack(cand)).fields
    assert "waivers" in f.by_id and "waivers" not in f.keyed


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("some m in target.member_facts", 'some m in target[concat("", ["member", "_facts"])]', "computed key"),
        ("some m in target.member_facts", "some m in target.member_facts\n\tdata.tollgate.routing[input.x]",
         "dynamic reference"),
        ('"facts": {"region"', '"facts": {"target": target, "region"', "whole record"),
        ("some m in target.member_facts", "some m in target.member_facts with input as {}", "`with`"),
        ("some m in target.member_facts", "some _, m in data.tollgate.registry.targets", "every record"),
        ("some m in target.member_facts", "some _, m in target", "a record's fields"),
    ],
)
def test_what_the_analysis_cannot_follow_gives_no_projection(old: str, new: str, reason: str) -> None:
    with pytest.raises(Unsupported, match=reason):
        analyse(_pack(BASE), _edit(old, new))
    assert reason in str(try_analyse(_pack(BASE), _edit(old, new), {}, {}))


def test_different_policy_data_or_no_base_gives_no_projection() -> None:
    assert "data differs" in str(try_analyse(_pack(BASE), _pack(BASE), {}, {"x": 1}))
    assert "no active version" in str(try_analyse(None, _pack(BASE), {}, {}))


def test_an_analysis_that_breaks_falls_back_to_the_exact_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    """An AST shape the analysis has not met must cost speed, never a wrong or failed report."""
    import broker.lifecycle.impact.relevance as relevance

    def broken(*_: Any) -> None:
        raise KeyError("Spec")

    monkeypatch.setattr(relevance, "analyse", broken)
    assert "analysis failed (KeyError)" in str(try_analyse(_pack(BASE), _pack(BASE), {}, {}))
    source = StaticRegistrySource({1: _registry(5)})
    report = analyze(ImpactRequest("c", suspended_allowed_pack().modules, "b", shipped_pack().modules, now=NOW),
                     source, workers=1)
    assert not report["matrix"]["relevance"]["used"] and report["summary"]["changed"] > 0


# --- exactness of the two-stage matrix -----------------------------------------------------------


def _registry(extra: int = 40) -> Registry:
    return with_synthetic_tenants(fixture_registry(), extra)


def _both(cand: Mapping[str, str], reg: Registry, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    source = StaticRegistrySource({1: reg})
    base = shipped_pack().modules
    reports = [
        analyze(ImpactRequest("c", cand, "b", base, now=NOW, matrix="full", relevance=on, **kw), source, workers=1)
        for on in (True, False)
    ]
    assert reports[1]["matrix"]["relevance"] == {"used": False, "reason": "switched off by the request"}
    return reports[0], reports[1]


def _eea() -> dict[str, str]:
    pset = changed(shipped_pack(), "tollgate/routing/residency.rego", "not m.jurisdiction.eu_member.value == true",
                   "not eea_member(m.jurisdiction)")
    files = dict(pset.files)
    files["tollgate/routing/residency.rego"] += (
        "\neea_member(j) if j.eu_member.value == true\n\neea_member(j) if j.efta.value == true\n"
    )
    return PolicySet.of(files).modules


CANDIDATES = {
    "suspension": lambda: suspended_allowed_pack().modules,
    "eea residency": _eea,
    "no E:2 embargo": lambda: changed(shipped_pack(), "tollgate/routing/sanctions.rego", 'f.group in {"E:1", "E:2"}',
                                      'f.group in {"E:1"}').modules,
    "export exemption withdrawn": lambda: changed(
        shipped_pack(), "tollgate/routing/export.rego", "x.trusted_partner_exempt_since_ns <= input.now_ns",
        "x.trusted_partner_exempt_since_ns > input.now_ns").modules,
    "deployment check dropped": lambda: _deployment_rule("false").modules,
}


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_the_two_stages_report_exactly_the_changes_of_the_exact_matrix(name: str) -> None:
    projected, exact = _both(CANDIDATES[name](), _registry(), subjects=[None, {"nationalities": ["CU"]}])
    rel = projected["matrix"]["relevance"]
    assert rel["used"] and rel["verified"], rel
    assert projected["changes"] == exact["changes"]
    assert projected["changes"], "each candidate changes something on this registry"
    assert projected["groups"] == exact["groups"] and projected["summary"]["changed"] == exact["summary"]["changed"]
    assert projected["summary"]["evaluations"] < exact["summary"]["evaluations"]
    assert rel["tenant_classes"] < projected["matrix"]["classes"]


def test_main_rego_edits_are_exact_and_screened_only_when_it_pays() -> None:
    # How `decide` combines the concerns: every fact can matter, so stage 1 would not pay.
    combine = changed(shipped_pack(), MAIN, "allow := reasons == set()",
                      'allow := {r | some r in reasons; r.code != "MODEL_NOT_DEPLOYED"} == set()').modules
    projected, exact = _both(combine, _registry())
    rel = projected["matrix"]["relevance"]
    assert rel["changed_rules"] == [f"{R}.decide"] and not rel["used"] and "would not pay" in rel["reason"]
    assert projected["changes"] and projected["changes"] == exact["changes"]
    # `deny` is not part of the decision: nothing the matrix compares can change.
    deny = changed(shipped_pack(), MAIN, "deny := {r | some r in decision.reasons} if decision",
                   'deny := {r | some r in decision.reasons; r.code != "X"} if decision').modules
    projected, exact = _both(deny, _registry())
    rel = projected["matrix"]["relevance"]
    assert rel["used"] and rel["changed_rules"] == [] and rel["flagged"] == 0
    assert projected["changes"] == exact["changes"] == []
    assert projected["summary"]["evaluations"] * 10 < exact["summary"]["evaluations"]


def test_the_deployed_scope_is_exact_too() -> None:
    source = StaticRegistrySource({1: _registry()})
    req = ImpactRequest("c", _eea(), "b", shipped_pack().modules, now=NOW)
    projected = analyze(req, source, workers=1)
    req.relevance = False
    assert projected["matrix"]["relevance"]["used"]
    assert projected["changes"] == analyze(req, source, workers=1)["changes"]


def test_a_policy_reading_what_identifies_a_tenant_is_caught_by_the_spot_check() -> None:
    # Two suspended tenants alike but for their id; the candidate tells them apart by a piece of
    # the id that names neither, so projection (which leaves ids out) puts them in one class.
    reg = _registry(0)
    twin = reg.tenants["suspended-co"].model_copy(update={"id": "suspended-twin", "name": "Twin"})
    reg = reg.model_copy(update={"tenants": {**reg.tenants, "suspended-twin": twin}})
    cand = changed(shipped_pack(), "tollgate/routing/tenant.rego", "if tenant.suspended == true",
                   'if {\n\ttenant.suspended == true\n\tnot endswith(tenant.id, "twin")\n}').modules
    projected, exact = _both(cand, reg)
    rel = projected["matrix"]["relevance"]
    assert not rel["verified"] and not rel["used"] and "spot check" in rel["reason"]
    assert projected["changes"] == exact["changes"]
    assert {c["tenant"] for c in projected["changes"]} == {"suspended-twin"}


def test_a_computed_key_falls_back_to_the_exact_matrix() -> None:
    path = "tollgate/routing/residency.rego"  # the tenant's residency read through a computed key
    pset = changed(shipped_pack(), path, "kind := tenant.residency.kind",
                   'kind := tenant[concat("", ["resi", "dency"])].kind')
    cand = changed(pset, path, 'kind == "eu_member_states"', 'kind == "eu_member_states_x"').modules
    projected, exact = _both(cand, _registry())
    assert not projected["matrix"]["relevance"]["used"]
    assert "computed key" in projected["matrix"]["relevance"]["reason"]
    assert projected["changes"] and projected["changes"] == exact["changes"]


@pytest.mark.slow
def test_the_full_matrix_of_the_catalog_with_1000_tenants_well_under_a_minute() -> None:
    """benchmarks/impact.py's case: without stage 1 the full matrix takes minutes."""
    from registry.io import load_shipped

    source = StaticRegistrySource({1: with_synthetic_tenants(load_shipped(include_demo=True), 1000)})
    base = shipped_pack().modules
    req = ImpactRequest("c", _eea(), "b", base, now=NOW, matrix="full")
    started = time.perf_counter()
    report = analyze(req, source)
    elapsed = time.perf_counter() - started
    rel = report["matrix"]["relevance"]
    print(f"full matrix, catalog + 1,000 tenants: {elapsed:.1f}s", rel, report["summary"]["changed"])
    assert rel["used"] and report["changes"] and elapsed < 60
    req.matrix = "deployed"
    projected = analyze(req, source)
    req.relevance = False
    assert projected["changes"] == analyze(req, source)["changes"]
