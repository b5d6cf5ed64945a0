"""RegistryService: validated writes, catalog bootstrap/upgrade merge, cache, hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from broker.errors import AuditUnavailable, Conflict, NotFound, PreconditionFailed, ValidationFailed
from broker.registry.service import RegistryService
from broker.storage import RevisionInfo, create_store
from broker.storage.sql import SqlRegistryStore
from registry.canonical import registry_hash
from registry.io import load_dir
from registry.model import Registry
from tests.storage.sample import jurisdiction, model, region, sample_registry, tenant


def seeded(service: RegistryService, tenants: int = 3) -> RevisionInfo:
    info = service.import_registry(sample_registry(tenants), "alice", "seed")
    assert info is not None
    return info


def test_bootstrap_first_start_and_restart(service: RegistryService) -> None:
    catalog = sample_registry()
    result = service.bootstrap_shipped(catalog=catalog)
    assert result.revision is not None
    assert result.revision.number == 1 and result.revision.author == "system"
    assert result.revision.message == f"shipped catalog {registry_hash(catalog)}"
    assert result.revision.hash == registry_hash(catalog) == result.catalog_hash
    again = service.bootstrap_shipped(catalog=catalog)
    assert again.revision is None and not again.applied
    assert service.history().total == 1


def test_bootstrap_upgrade_merges_without_clobbering(service: RegistryService) -> None:
    v1 = sample_registry()
    service.bootstrap_shipped(catalog=v1)
    # Officer edits: a tenant and model A (both in the catalog), deletes tenant 2, adds a tenant.
    service.update("tenant-00000", tenant("tenant-00000", "US", name="Officer Name"), "officer", "edit")
    edited_a = model("anthropic.claude-a").model_copy(update={"family": "officer-family"})
    service.update("anthropic.claude-a", edited_a, "officer", "edit")
    service.delete("tenant", "tenant-00002", "officer", "gone")
    service.create(tenant("local-co"), "officer", "add")
    # Catalog v2 changes model A (conflict) and model B (untouched locally), adds a region.
    new_a = model("anthropic.claude-a").model_copy(update={"version": "2"})
    new_b = model("anthropic.claude-b", ("aws-bedrock:eu",)).model_copy(update={"version": "2"})
    extra = region("aws", "us-west-2", "US")
    v2 = v1.model_copy(update={
        "models": {**v1.models, new_a.id: new_a, new_b.id: new_b},
        "regions": {**v1.regions, extra.id: extra},
    })
    result = service.bootstrap_shipped(catalog=v2)
    assert result.revision is not None and result.revision.author == "system"
    assert result.revision.message.startswith(f"catalog upgrade {registry_hash(v2)}")
    assert "model anthropic.claude-a" in result.revision.message
    assert list(result.conflicts) == [("model", "anthropic.claude-a")]
    assert set(result.applied) == {("model", "anthropic.claude-a"), ("model", "anthropic.claude-b"),
                                   ("region", "aws:us-west-2")}
    head = service.load()
    assert head.tenants["tenant-00000"].name == "Officer Name"  # catalog did not change it
    assert "tenant-00002" not in head.tenants  # officer deletion kept
    assert "local-co" in head.tenants
    assert head.models["anthropic.claude-a"] == new_a  # catalog changed it: catalog wins
    assert head.models["anthropic.claude-b"] == new_b
    assert extra.id in head.regions
    # The edit that was replaced is visible in the upgrade's diff.
    d = service.diff(result.revision.number - 1, result.revision.number).as_dict()
    assert {c["path"] for c in d["model"]["changed"][0]["changes"]} >= {"family", "version"}
    assert service.bootstrap_shipped(catalog=v2).revision is None


def test_writes_validate_whole_registry(service: RegistryService, store: SqlRegistryStore) -> None:
    seeded(service)
    before = store.head()
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: service.create(model("x.dangling", ("aws:nowhere-1",)), "o", "m"), ValidationFailed,
         "unknown region or routing scope 'aws:nowhere-1'"),
        (lambda: service.create(tenant("t-zz", "ZZ"), "o", "m"), ValidationFailed, "unknown jurisdiction 'ZZ'"),
        (lambda: service.create(tenant("tenant-00001"), "o", "m"), Conflict, "already exists"),
        (lambda: service.delete("region", "aws:eu-central-1", "o", "m"), ValidationFailed,
         "unknown region 'aws:eu-central-1'"),
        (lambda: service.delete("jurisdiction", "DE", "o", "m"), ValidationFailed, "unknown jurisdiction 'DE'"),
        (lambda: service.update("tenant-00001", tenant("other"), "o", "m"), ValidationFailed, "does not match"),
        (lambda: service.update("nope", tenant("nope"), "o", "m"), NotFound, "does not exist"),
        (lambda: service.delete("tenant", "nope", "o", "m"), NotFound, "does not exist"),
        (lambda: service.delete("gizmo", "x", "o", "m"), NotFound, "unknown entity kind"),
    ]
    for call, error, text in cases:
        with pytest.raises(error, match=text):
            call()
    assert store.head() == before


def test_problem_details_name_the_field(service: RegistryService) -> None:
    seeded(service)
    with pytest.raises(ValidationFailed) as err:
        service.create(model("x.dangling", ("aws:nowhere-1",)), "o", "m")
    assert err.value.details[0]["path"] == "deployments[0].target"
    assert err.value.details[0]["id"] == "x.dangling"


def test_if_match_precondition(service: RegistryService) -> None:
    seeded(service)
    service.create(tenant("a"), "o", "m", expected_head=1)
    with pytest.raises(PreconditionFailed):
        service.create(tenant("b"), "o", "m", expected_head=1)
    assert service.list("tenant", query="b").total == 0


def test_import_is_all_or_nothing(service: RegistryService, store: SqlRegistryStore) -> None:
    seeded(service)
    before = store.head()
    bad = sample_registry(5)
    bad = bad.model_copy(update={"models": {**bad.models, "x.bad": model("x.bad", ("gcp:mars-1",))}})
    with pytest.raises(ValidationFailed, match="import rejected"):
        service.import_registry(bad, "o", "m")
    assert store.head() == before and store.list("tenant").total == 3


def test_import_replaces_content(service: RegistryService) -> None:
    seeded(service, tenants=3)
    smaller = sample_registry(tenants=1)
    info = service.import_registry(smaller, "o", "shrink")
    assert info is not None and info.changes == {"added": 0, "changed": 0, "removed": 2}
    assert service.load() == smaller
    assert service.import_registry(smaller, "o", "again") is None  # no empty revision


def test_export_import_export_byte_identical(service: RegistryService, tmp_path: Path) -> None:
    seeded(service, tenants=20)
    service.update("GB", jurisdiction("GB", "Royaume-Uni ✓"), "o", "unicode")
    first = tmp_path / "first"
    service.export(first)
    other = create_store(f"sqlite:///{tmp_path / 'other.db'}")
    svc2 = RegistryService(other)
    svc2.import_registry(load_dir(first), "o", "import")
    second = tmp_path / "second"
    svc2.export(second)
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in second.iterdir()) and len(files) == 6
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes()
    # And a past revision exports as it was.
    past = tmp_path / "past"
    service.export(past, revision=1)
    assert load_dir(past) == sample_registry(20)
    other.close()


def test_cache_listeners_and_audit(service: RegistryService, audit_log: list[dict[str, Any]]) -> None:
    seen: list[tuple[int, Registry]] = []
    unsubscribe = service.on_commit(lambda info, reg: seen.append((info.number, reg)))
    info = seeded(service)
    assert seen == [(1, service.current()[1])]
    assert service.current()[0] == info
    service.create(tenant("new-co"), "officer-7", "because")
    assert "new-co" in service.current()[1].tenants
    assert audit_log[-1] == {
        "action": "registry.revision", "actor": "officer-7", "revision": 2, "parent": 1,
        "hash": service.current()[0].hash,  # type: ignore[union-attr]
        "message": "because", "counts": dict(service.current()[0].counts),  # type: ignore[union-attr]
        "changes": {"added": 1, "changed": 0, "removed": 0},
    }
    unsubscribe()
    service.create(tenant("newer-co"), "o", "m")
    assert len(seen) == 2


def test_failing_listener_does_not_undo(service: RegistryService) -> None:
    def boom(_info: RevisionInfo, _reg: Registry) -> None:
        raise RuntimeError("listener bug")

    service.on_commit(boom)
    assert seeded(service).number == 1


def test_audit_failure_is_reported(store: SqlRegistryStore) -> None:
    def audit(_record: dict[str, Any]) -> None:
        raise OSError("disk full")

    service = RegistryService(store, audit=audit)
    with pytest.raises(AuditUnavailable):
        seeded(service)
    assert store.head() is not None  # committed; the caller is told the audit failed


def test_other_process_commits_are_picked_up(service: RegistryService, db_url: str) -> None:
    seeded(service)
    service.current()
    other_store = create_store(db_url)
    other = RegistryService(other_store)
    other.create(tenant("from-other"), "o", "m")
    assert "from-other" not in service.current()[1].tenants  # cached until refreshed...
    assert service.refresh() is True
    assert "from-other" in service.current()[1].tenants
    assert service.refresh() is False
    # ...but a write always builds on the true head (no lost update).
    other.create(tenant("again-other"), "o", "m")
    service.create(tenant("mine"), "o", "m")
    assert {"from-other", "again-other", "mine"} <= service.load().tenants.keys()
    other_store.close()


def test_diff_field_level(service: RegistryService) -> None:
    seeded(service)
    service.update("tenant-00001", tenant("tenant-00001", "GB"), "o", "move")
    service.create(region("aws", "us-west-2", "US"), "o", "add")
    d = service.diff(1, 3).as_dict()
    assert d["region"]["added"] == ["aws:us-west-2"]
    assert d["tenant"]["changed"] == [
        {"id": "tenant-00001", "changes": [{"path": "hq_country", "old": "DE", "new": "GB"}]}
    ]


def test_shipped_catalog_bootstraps(service: RegistryService, tmp_path: Path) -> None:
    """Whatever the shipped files hold loads cleanly, and export round-trips it."""
    result = service.bootstrap_shipped(include_demo=True)
    assert result.revision is not None
    assert result.revision.hash == result.catalog_hash
    service.export(tmp_path / "a")
    assert load_dir(tmp_path / "a") == service.load()
    other = create_store(f"sqlite:///{tmp_path / 'other.db'}")
    RegistryService(other).import_registry(load_dir(tmp_path / "a"), "o", "copy")
    RegistryService(other).export(tmp_path / "b")
    other.close()
    for p in (tmp_path / "a").iterdir():
        assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes()


def test_readiness(service: RegistryService) -> None:
    ok, detail = service.readiness()
    assert not ok and "not been loaded" in detail
    seeded(service)
    ok, detail = service.readiness()
    assert ok and detail.startswith("registry revision 1 sha256:")
    service.store.close()
    broken = RegistryService(create_store("sqlite:///:memory:", run_migrations=False))
    ok, detail = broken.readiness()
    assert not ok and "unavailable" in detail
