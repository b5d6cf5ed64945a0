"""Shared set-up for the pre-flight benchmarks: the shipped catalog plus synthetic tenants,
the real policy pack on the default engine, and a broker-shaped FastAPI app."""

from __future__ import annotations

import random
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from broker.decisions.snapshot import SnapshotManager, inputs_from_registry  # noqa: E402
from broker.engine.factory import create_engine  # noqa: E402
from broker.policy.pack import load_pack, read_pack  # noqa: E402
from registry.io import load_shipped  # noqa: E402
from registry.model import Registry, Residency, Tenant  # noqa: E402

COUNTRIES = ("US", "DE", "FR", "GB", "JP", "SG", "CN", "IN", "BR", "CH", "IR", "RU", "AE", "KR")


def synthetic_registry(tenants: int, seed: int = 7) -> Registry:
    """The shipped catalog (with demo data) plus ``tenants`` seeded synthetic tenants."""
    reg = load_shipped(include_demo=True)
    rnd = random.Random(seed)
    extra: dict[str, Tenant] = {}
    for i in range(tenants):
        kind = rnd.random()
        residency = Residency()
        if kind < 0.2:
            residency = Residency(kind="eu_member_states")
        elif kind < 0.3:
            residency = Residency(kind="countries", countries=(rnd.choice(COUNTRIES),))
        t = Tenant(
            id=f"synth-{i:06d}",
            name=f"Synthetic tenant {i}",
            hq_country=rnd.choice(COUNTRIES),
            parent_country=(parent := rnd.choice((None, None, *COUNTRIES))),
            parent_ownership_share=rnd.choice((0.3, 0.6)) if parent else 0.0,
            residency=residency,
            government=rnd.random() < 0.05,
            public_facing=rnd.random() < 0.3,
            suspended=rnd.random() < 0.02,
            demo=True,
        )
        extra[t.id] = t
    return reg.model_copy(update={"tenants": {**reg.tenants, **extra}})


def manager_for(reg: Registry, *, cache_size: int = 100_000) -> SnapshotManager:
    manager = SnapshotManager(lambda: create_engine("regorus"), cache_size=cache_size)
    manager.load(inputs_from_registry(reg, 1, load_pack(), read_pack().revision))
    return manager


def workload(reg: Registry, n: int, seed: int = 11) -> list[dict[str, Any]]:
    """``n`` pre-flight bodies over deployed (model, target) pairs, a few unknown ids."""
    rnd = random.Random(seed)
    pairs = [(m.id, d.target) for m in reg.models.values() for d in m.deployments]
    tenants = sorted(reg.tenants)
    out = []
    for _ in range(n):
        model, target = rnd.choice(pairs)
        out.append({"tenant": rnd.choice(tenants), "region": target, "model": model})
    return out


class NullSink:
    """Counts records; for isolating decision cost from audit I/O."""

    def __init__(self) -> None:
        self.n = 0

    def append(self, record: Mapping[str, Any]) -> int:
        self.n += 1
        return self.n

    async def append_async(self, record: Mapping[str, Any]) -> int:
        self.n += 1
        return self.n
