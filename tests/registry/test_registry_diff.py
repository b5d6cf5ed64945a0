"""Diffs between registries: added, removed and changed entities with field paths."""

from __future__ import annotations

from registry.diff import diff
from registry.io import load_shipped
from registry.model import Deployment, Registry, Source, Tenant


def test_identical_registries_have_an_empty_diff() -> None:
    reg = load_shipped()
    d = diff(reg, reg)
    assert d.empty and set(d.kinds) == {"jurisdiction", "region", "scope", "provider", "model", "tenant"}


def test_added_removed_and_changed() -> None:
    old = load_shipped()
    model = old.models["amazon.nova-lite"]
    moved = model.model_copy(update={"deployments": (
        Deployment(target="aws:us-east-1", platform_model_id="nova-lite-test",
                   source=Source(ref="test", confidence="confirmed")),)})
    region = old.regions["aws:us-east-1"].model_copy(update={"city": "Ashburn"})
    tenant = Tenant(id="t1", name="T1", hq_country="US")
    new = Registry(
        jurisdictions=old.jurisdictions,
        regions={**old.regions, region.id: region},
        scopes={k: v for k, v in old.scopes.items() if k != "gcp-vertex:global"},
        providers=old.providers,
        models={**old.models, moved.id: moved},
        tenants={"t1": tenant},
    )
    d = diff(old, new)
    assert d.kinds["tenant"].added == ("t1",)
    assert d.kinds["scope"].removed == ("gcp-vertex:global",)
    (reg_change,) = d.kinds["region"].changed
    assert [(c.path, c.old, c.new) for c in reg_change.changes] == [("city", "N. Virginia", "Ashburn")]
    (model_change,) = d.kinds["model"].changed
    paths = {c.path for c in model_change.changes}
    assert "deployments[0].target" in paths and "deployments[0].platform_model_id" in paths
    assert d.as_dict()["region"]["changed"][0]["changes"][0]["path"] == "city"
