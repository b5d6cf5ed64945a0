"""SearchIndex: the derived lookup table behind search, find-by-decision-id and receipts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from broker.audit.index import _WRITER_CACHE_KIB, SearchIndex
from broker.audit.records import IndexFields


def _fields(i: int) -> IndexFields:
    return IndexFields("decision", 1_800_000_000.0 + i, f"dec-{i}", "acme" if i % 2 else "globex", "m1")


def test_adding_leaves_again_is_harmless(tmp_path: Path) -> None:
    """Re-integration after a failure, or two threads reindexing at once, may add leaves the
    index already holds: they are ignored, never duplicated, never an error."""
    index = SearchIndex(tmp_path / "index.sqlite")
    index.add(0, [_fields(i) for i in range(10)])
    index.add(5, [_fields(i) for i in range(5, 15)])  # overlaps 5..9
    index.add(0, [_fields(i) for i in range(3)])  # wholly present
    assert index.size() == 15
    assert index.search(limit=100) == list(range(15))
    assert index.lookup_decision("dec-7") == 7
    assert index.search(tenant="acme", limit=100) == [i for i in range(15) if i % 2]
    index.close()


def test_concurrent_overlapping_adds(tmp_path: Path) -> None:
    index = SearchIndex(tmp_path / "index.sqlite")
    rows = [_fields(i) for i in range(2000)]

    def add(_: int) -> None:
        for lo in range(0, 2000, 250):
            index.add(lo, rows[lo : lo + 250])

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(add, range(3)))  # re-raises the first failure, if any
    assert index.search(limit=1000, after=999) == list(range(1000, 2000))
    index.close()


def test_writer_connection_gets_the_larger_page_cache(tmp_path: Path) -> None:
    index = SearchIndex(tmp_path / "index.sqlite")
    index.add(0, [_fields(0)])
    with index._connect() as db:  # this thread wrote, so its connection is the writer's
        assert db.execute("PRAGMA cache_size").fetchone()[0] == -_WRITER_CACHE_KIB
    seen: list[int] = []

    def reader() -> None:
        with index._connect() as db:
            seen.append(db.execute("PRAGMA cache_size").fetchone()[0])

    t = threading.Thread(target=reader)
    t.start()
    t.join()
    assert seen and seen[0] != -_WRITER_CACHE_KIB  # readers keep SQLite's default
    index.close()
