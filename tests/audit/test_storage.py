"""Sequence file recovery and filesystem storage behaviour."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.audit.errors import LogCorrupt
from broker.audit.storage.fs import FsLogStorage, FsSequenceStore
from broker.errors import NotFound

BATCHES = [[b"a" * 10, b"bb"], [b"c" * 300], [b"", b"d", b"e" * 70], [b"f" * 5000]]


def _write(path: Path) -> list[int]:
    store = FsSequenceStore(path)
    assert store.open() == 0
    ends = [path.stat().st_size]
    for batch in BATCHES:
        store.append(batch)
        ends.append(path.stat().st_size)
    store.close()
    return ends


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.binary(max_size=40))
def test_any_torn_tail_recovers_to_last_whole_batch(cut: int, junk: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seq"
        ends = _write(path)
        data = path.read_bytes()
        cut = ends[0] + cut % (len(data) - ends[0] + 1)
        path.write_bytes(data[:cut] + (junk if cut < len(data) else b""))
        whole = max(i for i, end in enumerate(ends) if end <= cut)
        store = FsSequenceStore(path)
        try:
            count = store.open()
        except LogCorrupt:
            # Only possible if the junk happens to form a complete batch header whose length
            # points inside the file: then it is not a torn tail, and refusing is correct.
            assert junk
            return
        expected = [r for b in BATCHES[:whole] for r in b]
        assert count == len(expected)
        assert store.read(0, count) == expected
        assert store.append([b"next"]) == count
        store.close()
        again = FsSequenceStore(path)
        assert again.open() == count + 1
        again.close()


def test_read_out_of_range(tmp_path: Path) -> None:
    _write(tmp_path / "seq")
    store = FsSequenceStore(tmp_path / "seq")
    store.open()
    with pytest.raises(LogCorrupt):
        store.read(0, 99)
    store.close()
    (tmp_path / "other").write_bytes(b"not a sequence file")
    with pytest.raises(LogCorrupt, match="not an audit sequence file"):
        FsSequenceStore(tmp_path / "other").open()


def test_fs_storage_paths_and_listing(tmp_path: Path) -> None:
    s = FsLogStorage(tmp_path / "root")
    s.put_many({"tile/0/000": b"x" * 32, "tile/0/001.p/3": b"y" * 96, "checkpoint": b"c\n"})
    s.sync()
    assert sorted(s.list("tile/0/")) == ["tile/0/000", "tile/0/001.p/3"]
    assert list(s.list("tile/0/001.p/")) == ["tile/0/001.p/3"]
    assert s.get("tile/0/000") == b"x" * 32
    with pytest.raises(NotFound):
        s.get("tile/9/000")
    for bad in ["../x", "/etc/passwd", "a//b", "a/./b", "a\\b", ""]:
        with pytest.raises(ValueError, match="unsafe"):
            s.put(bad, b"")
    s.delete("checkpoint")
    s.delete("checkpoint")
    assert not s.exists("checkpoint")
    assert not list((tmp_path / "root").rglob(".tmp-*"))
    shutil.rmtree(tmp_path / "root")
