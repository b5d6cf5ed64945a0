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


# --- segments and compaction ----------------------------------------------------------------------


def _segments(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("records"))


def test_segments_rotate_read_across_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "seq" / "records.log"
    store = FsSequenceStore(path, segment_bytes=200)
    assert store.open() == 0
    written = []
    for i in range(30):
        batch = [f"rec-{i}-{j}".encode() * (1 + i % 3) for j in range(1 + i % 4)]
        assert store.append(batch) == len(written)
        written += batch
    names = _segments(path.parent)
    assert len(names) > 3 and "records.log" in names and "records.0000000000000000.log" in names
    assert store.read(0, len(written)) == written  # across every segment
    assert store.read(5, 17) == written[5:17]
    store.close()
    again = FsSequenceStore(path, segment_bytes=200)
    assert again.open() == len(written)
    assert again.read(0, len(written)) == written
    assert again.append([b"more"]) == len(written)
    again.close()


def test_published_segments_are_deleted_and_reads_below_them_refused(tmp_path: Path) -> None:
    path = tmp_path / "seq" / "records.log"
    store = FsSequenceStore(path, segment_bytes=100)
    store.open()
    for _ in range(40):
        store.append([b"x" * 30, b"y" * 10])
    total = store.size()
    before = len(_segments(path.parent))
    store.mark_integrated(total // 2)  # a checkpoint covers half the log
    kept = store.first_kept()
    assert 0 < kept <= total // 2 and len(_segments(path.parent)) < before
    assert store.read(kept, total)[-1] == b"y" * 10
    with pytest.raises(LogCorrupt, match="compacted"):
        store.read(0, 3)
    store.mark_integrated(total)  # the active segment is never deleted
    assert "records.log" in _segments(path.parent)
    store.close()
    again = FsSequenceStore(path, segment_bytes=100)
    assert again.open() == total  # the index continues where it was, not at 0
    assert again.first_kept() >= kept
    assert again.append([b"z"]) == total
    again.close()


def test_crash_between_sealing_and_starting_the_next_segment(tmp_path: Path) -> None:
    path = tmp_path / "seq" / "records.log"
    store = FsSequenceStore(path, segment_bytes=50)
    store.open()
    store.append([b"a" * 60])
    store.close()
    path.rename(path.with_name("records.0000000000000000.log"))  # sealed; next one never created
    again = FsSequenceStore(path, segment_bytes=50)
    assert again.open() == 1
    assert again.append([b"b"]) == 1 and again.read(0, 2) == [b"a" * 60, b"b"]
    again.close()


def test_a_gap_between_segments_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "seq" / "records.log"
    store = FsSequenceStore(path, segment_bytes=50)
    store.open()
    for _ in range(4):
        store.append([b"a" * 60])
    store.close()
    sealed = sorted(p for p in path.parent.iterdir() if p.name != "records.log")
    sealed[1].unlink()  # a middle segment vanished: refuse, never renumber
    with pytest.raises(LogCorrupt, match="expected"):
        FsSequenceStore(path, segment_bytes=50).open()


def test_a_pre_segment_sequence_file_is_read_as_starting_at_zero(tmp_path: Path) -> None:
    import struct
    import zlib

    path = tmp_path / "records.log"
    payload = struct.pack(">I", 3) + b"old"
    head = struct.pack(">II", 1, len(payload))
    path.write_bytes(b"TGSEQ001" + b"TB" + head + struct.pack(">I", zlib.crc32(head, zlib.crc32(payload))) + payload)
    store = FsSequenceStore(path)
    assert store.open() == 1 and store.read(0, 1) == [b"old"]
    assert store.append([b"new"]) == 1
    store.close()
