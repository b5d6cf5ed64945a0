"""Seeded synthetic tenants for impact-analysis tests and the timing measurement.

The mix is meant to look like a real customer base, not like 1,000 copies of one profile: HQ
spread over every jurisdiction of the registry (weighted towards large markets), some parents
abroad with varied ownership shares, residency rules, government and public-facing flags, a few
suspended. Only the facts vary; the seed fixes them.
"""

from __future__ import annotations

import random

from registry.model import Registry, Residency, Tenant

_MARKETS = ["US", "GB", "DE", "FR", "JP", "IN", "CA", "AU", "SG", "BR", "NL", "IE", "KR", "AE", "CN", "HK"]


def synthetic_tenants(reg: Registry, n: int = 1000, seed: int = 7) -> dict[str, Tenant]:
    rng = random.Random(seed)
    codes = sorted(reg.jurisdictions)
    eu = sorted(c for c, j in reg.jurisdictions.items() if j.eu_member and j.eu_member.value)
    out: dict[str, Tenant] = {}
    for i in range(n):
        hq = rng.choice(_MARKETS) if rng.random() < 0.7 else rng.choice(codes)
        parent = rng.choice(codes) if rng.random() < 0.15 else None
        share = rng.choice([0.25, 0.5, 0.51, 0.75, 1.0]) if parent else 0.0
        roll = rng.random()
        if hq in eu and roll < 0.5:
            residency = Residency(kind="eu_member_states")
        elif roll < 0.15:
            residency = Residency(kind="countries", countries=(hq,))
        else:
            residency = Residency()
        tid = f"synthetic-{i:05d}"
        out[tid] = Tenant(
            id=tid,
            name=f"Synthetic tenant {i}",
            hq_country=hq,
            parent_country=parent,
            parent_ownership_share=share,
            residency=residency,
            government=rng.random() < 0.05,
            public_facing=rng.random() < 0.2,
            suspended=rng.random() < 0.01,
            demo=True,
        )
    return out


def with_synthetic_tenants(reg: Registry, n: int = 1000, seed: int = 7) -> Registry:
    return reg.model_copy(update={"tenants": {**reg.tenants, **synthetic_tenants(reg, n, seed)}})
