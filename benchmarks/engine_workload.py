"""Synthetic routing workload shared by the engine benchmarks (not the shipped policy pack).

A policy shaped like the routing pack (unknown ids, sanctions, export restrictions, a frontier
release window with RFC 3339 ``Z`` timestamps, deployment regions) and a seeded data document of
1,000 models, 10,000 tenants and 100 regions, plus random inputs over known and unknown ids.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

POLICY = r"""
package tollgate.routing

import rego.v1

model := data.models[input.model]
tenant := data.tenants[input.tenant]
country := data.regions[input.region].country

deny contains {"code": "UNKNOWN_MODEL", "message": sprintf("unknown model %s", [input.model])} if {
	not data.models[input.model]
}

deny contains {"code": "UNKNOWN_TENANT", "message": sprintf("unknown tenant %s", [input.tenant])} if {
	not data.tenants[input.tenant]
}

deny contains {"code": "UNKNOWN_REGION", "message": sprintf("unknown %s", [input.region])} if {
	not data.regions[input.region]
}

deny contains {"code": "SANCTIONED_JURISDICTION", "message": sprintf("%s", [tenant.country])} if {
	tenant.country in data.sanctioned
}

deny contains {"code": "EXPORT_RESTRICTED_MODEL", "message": sprintf("%s in %s", [input.model, country])} if {
	country in model.export_control.restricted_countries
}

deny contains {"code": "COVERED_FRONTIER_PRE_RELEASE", "message": input.model} if {
	model.covered_frontier.designated
	input.now_ns < time.parse_rfc3339_ns(model.covered_frontier.public_release)
	not trusted_partner_window
}

trusted_partner_window if {
	tenant.trusted_partner
	input.now_ns >= time.parse_rfc3339_ns(model.covered_frontier.trusted_partner_release)
}

deny contains {"code": "MODEL_NOT_DEPLOYED", "message": sprintf("%s@%s", [input.model, input.region])} if {
	model
	not input.region in model.regions
}

default allow := false

allow if count(deny) == 0

decision := {"allow": allow, "reasons": sort([r.code | some r in deny])}
"""

ENTRY = "data.tollgate.routing.decision"
DAY_NS = 86_400 * 10**9
NOW_NS = 1_780_358_400 * 10**9  # 2026-06-02T00:00:00Z


def _rfc3339(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // 10**9, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_data(models: int = 1000, tenants: int = 10_000, regions: int = 100, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    countries = [f"C{i:02d}" for i in range(40)]
    region_ids = [f"aws:r{i:03d}" for i in range(regions)]
    data: dict[str, Any] = {
        "regions": {r: {"country": rng.choice(countries)} for r in region_ids},
        "sanctioned": countries[:3],
        "tenants": {
            f"t{i:05d}": {"country": rng.choice(countries), "trusted_partner": rng.random() < 0.1}
            for i in range(tenants)
        },
        "models": {},
    }
    for i in range(models):
        release = NOW_NS + rng.randint(-60, 60) * DAY_NS
        data["models"][f"m{i:04d}"] = {
            "regions": rng.sample(region_ids, k=rng.randint(5, 40)),
            "export_control": {"restricted_countries": rng.sample(countries, k=rng.randint(0, 4))},
            "covered_frontier": {
                "designated": rng.random() < 0.2,
                "public_release": _rfc3339(release),
                "trusted_partner_release": _rfc3339(release - 30 * DAY_NS),
            },
        }
    return data


def make_inputs(data: dict[str, Any], n: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    models, tenants, regions = list(data["models"]), list(data["tenants"]), list(data["regions"])
    out = []
    for _ in range(n):
        out.append(
            {
                "model": rng.choice(models) if rng.random() > 0.03 else "m-unknown",
                "tenant": rng.choice(tenants) if rng.random() > 0.03 else "t-unknown",
                "region": rng.choice(regions) if rng.random() > 0.03 else "aws:nowhere",
                "now_ns": NOW_NS + rng.randint(-90, 90) * DAY_NS,
            }
        )
    return out
