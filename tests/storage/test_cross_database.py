"""The same content gets the same revision hash on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from broker.storage import Upsert, create_store
from registry.canonical import registry_entities, registry_hash
from tests.storage.sample import sample_registry, tenant


@pytest.mark.postgres
def test_revision_hash_identical_across_databases(sqlite_url: str, pg_url: str) -> None:
    reg = sample_registry(tenants=50)
    hashes = []
    loaded = []
    for url in (sqlite_url, pg_url):
        store = create_store(url)
        store.commit([Upsert(k, e) for k, e in registry_entities(reg)], "a", "one", expected_head=None)
        info = store.commit([Upsert("tenant", tenant("extra", name="Ünïcode ✓ name"))], "a", "two", expected_head=1)
        hashes.append((store.revision(1).hash, info.hash))
        loaded.append((store.load(1), store.load(2)))
        store.close()
    assert hashes[0] == hashes[1]
    assert hashes[0][0] == registry_hash(reg)
    assert loaded[0] == loaded[1]
