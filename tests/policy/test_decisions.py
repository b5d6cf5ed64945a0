"""The decision contract the pre-flight API relies on, per reason code, positive and negative."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.policy.conftest import Decide
from tests.policy.fixture_registry import ALL_TARGETS, TIMES, fixture_registry

US = {"nationalities": ["US"], "us_person": True}
DE = {"nationalities": ["DE"], "us_person": False}


def codes(d: dict[str, Any]) -> set[str]:
    return {r["code"] for r in d["reasons"]}


# (case id, input overrides, reason code expected, or None for a clean allow)
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("baseline", {}, None),
    ("unknown-tenant", {"tenant": "nobody"}, "UNKNOWN_TENANT"),
    ("unknown-model", {"model": "nobody"}, "UNKNOWN_MODEL"),
    ("unknown-region", {"target": "aws:nowhere-1"}, "UNKNOWN_REGION"),
    ("unknown-member", {"target": "aws-bedrock:ghost"}, "UNKNOWN_REGION"),
    ("bad-now", {"now_ns": None}, "INVALID_INPUT"),
    ("suspended", {"tenant": "suspended-co"}, "TENANT_SUSPENDED"),
    ("sanctioned-flag", {"tenant": "sanctioned-co"}, "TENANT_SUSPENDED"),
    ("not-deployed", {"model": "anthropic.frontier", "target": "aws:eu-central-1"}, "MODEL_NOT_DEPLOYED"),
    ("scope-deployed", {"model": "anthropic.frontier", "target": "aws-bedrock:eu"}, None),
    ("ofac-hq", {"tenant": "ir-co"}, "SANCTIONED_JURISDICTION"),
    ("ofac-parent", {"tenant": "cu-owned"}, "SANCTIONED_JURISDICTION"),
    ("ofac-member", {"target": "aws-bedrock:crimea"}, "SANCTIONED_JURISDICTION"),
    ("ofac-nationality", {"subject": {"nationalities": ["CU"], "us_person": False}}, "SANCTIONED_JURISDICTION"),
    ("e1", {"tenant": "sy-co"}, "EMBARGOED_DESTINATION"),
    ("d5-hk-frontier", {"tenant": "hk-co", "model": "anthropic.frontier"}, "EMBARGOED_DESTINATION"),
    ("d5-hk-open", {"tenant": "hk-co"}, None),
    ("macau-frontier", {"tenant": "mo-co", "model": "acme.systemic"}, "EMBARGOED_DESTINATION"),
    ("export-foreigner", {"model": "anthropic.mythos", "subject": DE}, "EXPORT_RESTRICTED_MODEL"),
    ("export-no-subject", {"model": "anthropic.mythos"}, "EXPORT_RESTRICTED_MODEL"),
    ("export-us-person", {"model": "anthropic.mythos", "subject": US}, None),
    ("export-partner-exempt", {"model": "anthropic.mythos", "tenant": "partner", "subject": DE}, None),
    (
        "frontier-gov-window",
        {"model": "anthropic.frontier", "now_ns": TIMES["gov_access"]},
        "COVERED_FRONTIER_PRE_RELEASE",
    ),
    ("frontier-gov-window-gov", {"model": "anthropic.frontier", "tenant": "gov", "now_ns": TIMES["gov_access"]}, None),
    ("frontier-public", {"model": "anthropic.frontier"}, None),
    ("residency-eu-scope", {"tenant": "eu-co", "target": "aws-bedrock:eu"}, "RESIDENCY_VIOLATION"),
    ("residency-global", {"tenant": "eu-co", "target": "aws-bedrock:global"}, "RESIDENCY_VIOLATION"),
    ("residency-ok", {"tenant": "eu-co", "target": "aws-bedrock:de"}, None),
    ("terms-ownership", {"tenant": "cn-owned", "model": "anthropic.mythos", "subject": US}, "PROVIDER_TERMS"),
    ("entity-list-gov", {"tenant": "gov", "model": "zai.glm"}, "ENTITY_LIST_PROVIDER"),
    ("cn-unfiled", {"tenant": "cn-public", "model": "meta.unfiled", "target": "aws:cn-north-1"}, "CN_FILING_REQUIRED"),
    (
        "cn-wrong-partition",
        {"tenant": "cn-public", "model": "zai.glm", "target": "aws:us-east-1"},
        "CN_FILING_REQUIRED",
    ),
    ("cn-internal", {"tenant": "cn-internal", "model": "meta.unfiled", "target": "aws:cn-north-1"}, None),
]


@pytest.mark.parametrize(("over", "code"), [(o, c) for _, o, c in CASES], ids=[i for i, _, _ in CASES])
def test_reason_codes(decide: Decide, over: dict[str, Any], code: str | None) -> None:
    d = decide(**over)
    if code is None:
        assert d["allow"] is True, d["reasons"]
        assert d["reasons"] == []
    else:
        assert code in codes(d)
        assert d["allow"] is False


def test_contract_shape(decide: Decide) -> None:
    d = decide(tenant="ir-co", target="aws-bedrock:crimea", model="anthropic.frontier")
    assert set(d) == {"allow", "reasons", "obligations", "valid_until_ns"}
    keys = [(r["code"], r["message"]) for r in d["reasons"]]
    assert keys == sorted(keys)
    for r in d["reasons"]:
        assert set(r) == {"code", "message", "facts"}
        assert isinstance(r["facts"], dict)
        if "source" in r["facts"]:  # the message names the source of the fact it cites
            assert r["facts"]["source"] in r["message"]


def test_entity_list_obligation(decide: Decide) -> None:
    d = decide(model="zai.glm")
    assert d["allow"] is True
    assert [o["code"] for o in d["obligations"]] == ["compliance_review"]
    assert "BIS Entity List" in d["obligations"][0]["message"]
    assert decide()["obligations"] == []


def test_valid_until_at_window_edge(decide: Decide) -> None:
    # One nanosecond before the government window opens: denied, and valid exactly until it opens.
    before = decide(tenant="gov", model="anthropic.frontier", now_ns=TIMES["gov_access"] - 1)
    assert before["allow"] is False
    assert before["valid_until_ns"] == TIMES["gov_access"]
    # At the edge the answer has changed, and the next edge is the trusted-partner release.
    at = decide(tenant="gov", model="anthropic.frontier", now_ns=TIMES["gov_access"])
    assert at["allow"] is True
    assert at["valid_until_ns"] == TIMES["tp_release"]
    # Exemption date for the partner on the restricted model.
    partner = decide(tenant="partner", model="anthropic.mythos", now_ns=TIMES["iil"])
    assert partner["valid_until_ns"] == TIMES["exempt"]
    assert decide(tenant="partner", model="anthropic.mythos", now_ns=TIMES["exempt"])["allow"] is True
    # Nothing scheduled: null.
    assert decide()["valid_until_ns"] is None


def test_nanoseconds_stay_exact(decide: Decide) -> None:
    odd = TIMES["exempt"] - 7  # not representable as a float64
    d = decide(tenant="partner", model="anthropic.mythos", now_ns=odd)
    assert d["valid_until_ns"] == TIMES["exempt"]
    assert decide(tenant="partner", model="anthropic.mythos", now_ns=TIMES["exempt"] - 1)["allow"] is False


_REG = fixture_registry()
_INPUTS = st.fixed_dictionaries(
    {
        "tenant": st.sampled_from([*sorted(_REG.tenants), "nobody"]),
        "target": st.sampled_from([*ALL_TARGETS, "aws:nowhere-1"]),
        "model": st.sampled_from([*sorted(_REG.models), "nobody"]),
        "subject": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "nationalities": st.lists(
                        st.sampled_from(["US", "DE", "IR", "CU", "HK", "MO", "KH", "ZZ"]), max_size=3
                    ),
                    "us_person": st.booleans(),
                }
            ),
        ),
        "now_ns": st.one_of(
            st.sampled_from(sorted(set(TIMES.values()))), st.integers(1_700_000_000 * 10**9, 1_900_000_000 * 10**9)
        ),
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(item=_INPUTS)
def test_allow_iff_no_reason(decide: Decide, item: dict[str, Any]) -> None:
    d = decide(**item)
    assert d["allow"] is (len(d["reasons"]) == 0)
    if d["valid_until_ns"] is not None:
        assert d["valid_until_ns"] > item["now_ns"]
