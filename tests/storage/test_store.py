"""Behaviour of the revisioned registry store (runs on SQLite and, when reachable, PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC

import pytest

from broker.errors import Conflict, NotFound, StoreUnavailable, ValidationFailed
from broker.storage import CatalogBaseline, Delete, Upsert, create_store
from broker.storage.sql import SqlRegistryStore
from registry.canonical import entity_digest, registry_entities, registry_hash
from registry.model import Registry
from tests.storage.sample import jurisdiction, sample_registry, tenant


def upserts(reg: Registry) -> list[Upsert]:
    return [Upsert(kind, e) for kind, e in registry_entities(reg)]


def test_empty_store(store: SqlRegistryStore) -> None:
    assert store.head() is None
    assert store.load() == Registry()
    page = store.list("tenant")
    assert (list(page.items), page.total, page.revision) == ([], 0, 0)
    assert store.history().total == 0
    store.ping()


def test_first_commit_records_revision(store: SqlRegistryStore) -> None:
    reg = sample_registry()
    info = store.commit(upserts(reg), "alice", "initial", expected_head=None)
    assert (info.number, info.parent, info.author, info.message) == (1, None, "alice", "initial")
    assert info.hash == registry_hash(reg)
    assert info.created_at.tzinfo is UTC
    assert info.counts == {"jurisdiction": 4, "region": 3, "scope": 1, "provider": 1, "model": 2, "tenant": 3}
    assert info.changes == {"added": 14, "changed": 0, "removed": 0}
    assert store.head() == info
    assert store.revision(1) == info
    assert store.load() == reg


def test_past_revision_reads_back_exactly(store: SqlRegistryStore) -> None:
    reg1 = sample_registry()
    r1 = store.commit(upserts(reg1), "alice", "one", expected_head=None)
    renamed = tenant("tenant-00001", "DE", name="Renamed GmbH")
    r2 = store.commit(
        [Upsert("tenant", renamed), Delete("tenant", "tenant-00002"), Upsert("tenant", tenant("new-co"))],
        "bob",
        "two",
        expected_head=1,
    )
    assert r2.parent == 1 and r2.changes == {"added": 1, "changed": 1, "removed": 1}
    past = store.load(1)
    assert past == reg1
    assert registry_hash(past) == r1.hash
    now = store.load()
    assert registry_hash(now) == r2.hash
    assert now.tenants["tenant-00001"] == renamed
    assert "tenant-00002" not in now.tenants and "tenant-00002" in past.tenants
    assert store.get("tenant", "tenant-00001", 1) == reg1.tenants["tenant-00001"]
    assert store.get("tenant", "tenant-00002") is None
    assert store.get("tenant", "tenant-00002", 1) is not None
    assert store.load(0) == Registry()
    with pytest.raises(NotFound):
        store.load(3)


def test_stale_expected_head_is_conflict_and_changes_nothing(store: SqlRegistryStore) -> None:
    store.commit(upserts(sample_registry()), "alice", "one", expected_head=None)
    store.commit([Upsert("tenant", tenant("x"))], "alice", "two", expected_head=1)
    with pytest.raises(Conflict):
        store.commit([Upsert("tenant", tenant("y"))], "bob", "stale", expected_head=1)
    with pytest.raises(Conflict):
        store.commit([Upsert("tenant", tenant("y"))], "bob", "stale", expected_head=None)
    head = store.head()
    assert head is not None and head.number == 2
    assert store.get("tenant", "y") is None


def test_bad_changes_rejected_atomically(store: SqlRegistryStore) -> None:
    first = store.commit(upserts(sample_registry()), "alice", "one", expected_head=None)
    with pytest.raises(NotFound):  # the valid upsert before it must not land either
        store.commit([Upsert("tenant", tenant("z")), Delete("tenant", "nope")], "a", "m", expected_head=1)
    with pytest.raises(ValidationFailed):
        store.commit([Upsert("gizmo", tenant("z"))], "a", "m", expected_head=1)
    with pytest.raises(ValidationFailed):
        store.commit([Upsert("model", tenant("z"))], "a", "m", expected_head=1)
    assert store.head() == first
    assert store.get("tenant", "z") is None


def test_identical_content_makes_no_revision(store: SqlRegistryStore) -> None:
    reg = sample_registry()
    first = store.commit(upserts(reg), "alice", "one", expected_head=None)
    again = store.commit(upserts(reg), "alice", "again", expected_head=1)
    assert again == first
    # ...unless it records a catalog baseline: a catalog upgrade always shows up.
    digests = {(k, e_key): d for (k, e_key), d in store.digests().items()}
    base = store.commit([], "system", "catalog", expected_head=1, baseline=CatalogBaseline("sha256:x", digests))
    assert base.number == 2 and base.hash == first.hash and base.catalog_hash == "sha256:x"
    assert store.catalog_baseline() == CatalogBaseline("sha256:x", digests)


def test_last_change_to_an_entity_wins(store: SqlRegistryStore) -> None:
    store.commit(upserts(sample_registry()), "alice", "one", expected_head=None)
    info = store.commit(
        [Upsert("tenant", tenant("dup", name="First")), Upsert("tenant", tenant("dup", name="Second"))],
        "a", "m", expected_head=1,
    )
    assert info.changes["added"] == 1
    got = store.get("tenant", "dup")
    assert got is not None and got.name == "Second"  # type: ignore[attr-defined]


def test_list_paginates_and_searches(store: SqlRegistryStore) -> None:
    reg = sample_registry(tenants=25)
    store.commit(upserts(reg), "alice", "one", expected_head=None)
    page = store.list("tenant", offset=10, limit=5)
    assert page.total == 25 and page.revision == 1
    assert [t.id for t in page.items] == [f"tenant-{i:05d}" for i in range(10, 15)]  # type: ignore[attr-defined]
    assert store.list("tenant", query="TENANT-0001").total == 10
    assert store.list("jurisdiction", query="king").items[0].code == "GB"  # type: ignore[attr-defined]
    assert store.list("tenant", query="%").total == 0  # LIKE wildcards are literal
    assert store.list("tenant", query="_").total == 0
    store.commit([Upsert("tenant", tenant("pct-co", name="100% Co"))], "a", "m", expected_head=1)
    assert [t.id for t in store.list("tenant", query="%").items] == ["pct-co"]  # type: ignore[attr-defined]
    assert store.list("tenant", revision=1).total == 25
    assert store.list("tenant").total == 26


def test_history_and_diff(store: SqlRegistryStore) -> None:
    store.commit(upserts(sample_registry()), "alice", "one", expected_head=None)
    store.commit([Upsert("tenant", tenant("new"))], "bob", "two", expected_head=1)
    store.commit(
        [Delete("tenant", "tenant-00000"), Upsert("jurisdiction", jurisdiction("GB", "Britain"))],
        "carol", "three", expected_head=2,
    )
    hist = store.history(offset=0, limit=2)
    assert hist.total == 3 and hist.revision == 3
    assert [(r.number, r.author) for r in hist.items] == [(3, "carol"), (2, "bob")]
    d = store.diff(1, 3)
    assert list(d.added) == [("tenant", "new")]
    assert list(d.removed) == [("tenant", "tenant-00000")]
    assert list(d.changed) == [("jurisdiction", "GB")]
    assert store.diff(0, 1).added and not store.diff(3, 3).changed
    with pytest.raises(NotFound):
        store.revision(9)


def test_digests_match_canonical(store: SqlRegistryStore) -> None:
    reg = sample_registry()
    store.commit(upserts(reg), "alice", "one", expected_head=None)
    assert store.digests(1) == {(k, getattr(e, "id", getattr(e, "code", ""))): entity_digest(e)
                                for k, e in registry_entities(reg)}


def test_concurrent_writers_serialised(make_store: Callable[[], SqlRegistryStore]) -> None:
    """Several "processes" read-modify-write; every write lands exactly once, none is lost."""
    seed = make_store()
    seed.commit(upserts(sample_registry(tenants=0)), "seed", "seed", expected_head=None)
    writers, per_writer = 4, 5
    stores = [make_store() for _ in range(writers)]
    conflicts = [0] * writers
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for n in range(per_writer):
                while True:
                    head = stores[i].head()
                    try:
                        stores[i].commit([Upsert("tenant", tenant(f"w{i}-{n}"))], f"w{i}", "m",
                                         expected_head=head.number if head else None)
                        break
                    except Conflict:
                        conflicts[i] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    head = seed.head()
    assert head is not None and head.number == 1 + writers * per_writer
    assert seed.list("tenant").total == writers * per_writer
    numbers = [r.number for r in seed.history(limit=100).items]
    assert numbers == list(range(head.number, 0, -1))  # contiguous, no gaps, no duplicates
    for r in seed.history(limit=100).items:  # each revision's hash is its content's hash
        assert registry_hash(seed.load(r.number)) == r.hash


def test_migrations_are_idempotent(store_url: str) -> None:
    a = create_store(store_url)
    a.commit([Upsert("jurisdiction", jurisdiction("US", "United States"))], "a", "m", expected_head=None)
    b = create_store(store_url)  # migrates again: a no-op that keeps the data
    assert b.load().jurisdictions["US"].name == "United States"
    a.close()
    b.close()


def test_unreachable_database_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        create_store("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_unsupported_url() -> None:
    with pytest.raises(ValidationFailed):
        create_store("mysql://x@localhost/db")
