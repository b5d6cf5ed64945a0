"""The compiled data document: layout, time encoding, jurisdiction resolution."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from broker.engine.factory import create_engine
from broker.engine.interface import PolicyBundle
from broker.policy.datadoc import date_ns, datetime_ns, window_edges


def test_layout(fixture_doc: dict[str, Any]) -> None:
    reg = fixture_doc["tollgate"]["registry"]
    assert set(reg) == {"schema", "jurisdictions", "regions", "targets", "providers", "models", "tenants"}
    region = reg["targets"]["aws:us-east-1"]
    assert region["kind"] == "region" and region["members"] == ["aws:us-east-1"] and region["global"] is False
    scope = reg["targets"]["aws-bedrock:eu"]
    assert scope["members"] == ["aws:eu-central-1", "aws:eu-west-2"]
    assert [m["country"] for m in scope["member_facts"]] == ["DE", "GB"]
    assert reg["targets"]["aws-bedrock:global"]["global"] is True
    assert reg["targets"]["aws-bedrock:ghost"]["member_facts"][1] == {"region": "aws:nowhere-1", "known": False}


def test_treated_as(fixture_doc: dict[str, Any]) -> None:
    hk = fixture_doc["tollgate"]["registry"]["jurisdictions"]["HK"]
    assert hk["effective"] == "CN"
    assert [w["via"] for w in hk["ear_groups"]["D:5"]] == ["CN"]
    assert "HK treated as CN" in hk["treated_as"]["source"]
    region_hk = fixture_doc["tollgate"]["registry"]["regions"]["aws:ap-east-1"]["jurisdiction"]
    assert region_hk["effective"] == "CN"


def test_booleans_and_sources(fixture_doc: dict[str, Any]) -> None:
    reg = fixture_doc["tollgate"]["registry"]
    assert reg["tenants"]["gov"]["government"] is True
    assert reg["tenants"]["acme"]["suspended"] is False
    assert reg["models"]["zai.glm"]["cn_genai_filed"] == {
        "value": True,
        "source": "fixture: CAC filing list [confirmed]",
    }


def test_time_encoding() -> None:
    assert date_ns(date(2026, 6, 12)) == 1_781_222_400 * 10**9
    moment = datetime(2026, 6, 12, 0, 0, 0, 123456, tzinfo=UTC)
    assert datetime_ns(moment) == 1_781_222_400_123_456_000
    with pytest.raises(ValueError):
        datetime_ns(datetime(2026, 6, 12))


def test_window_edges(fixture_doc: dict[str, Any]) -> None:
    edges = window_edges(fixture_doc)
    assert date_ns(date(2026, 6, 26)) in edges
    assert all(isinstance(e, int) for e in edges)


@pytest.mark.parametrize("name", ["regorus", "regopy"])
def test_engines_keep_nanoseconds_exact(name: str) -> None:
    big = 1_781_222_400_123_456_789  # not representable as a float64
    eng = create_engine(name)
    module = 'package tollgate.routing\nimport rego.v1\ndecision := {"n": data.n + 1, "lt": data.n < input.n}\n'
    eng.load(PolicyBundle({"p.rego": module}, {"n": big}, "t", 0))
    out = eng.evaluate({"n": big + 1})
    eng.close()
    assert out == {"n": big + 1, "lt": True}
    assert json.dumps(out["n"]) == str(big + 1)
