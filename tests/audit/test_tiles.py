"""tlog-tiles paths, bundles and tile-based proofs."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.audit import merkle
from broker.audit.errors import InvalidRecord, LogCorrupt
from broker.audit.integrator import TreeBuilder
from broker.audit.proofs import TileReader
from broker.audit.storage.fs import FsLogStorage
from broker.audit.tiles import (
    decode_bundle,
    encode_bundle,
    encode_index,
    parse_tile_path,
    partial_width,
    tile_path,
    tiles_for_size,
)


def test_index_encoding_matches_spec_example() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000"
    assert encode_index(999) == "999"
    assert encode_index(1000) == "x001/000"
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(1, 5, 17) == "tile/1/005.p/17"
    assert tile_path(-1, 2, 3) == "tile/entries/002.p/3"


def test_partial_widths_spec_example() -> None:
    assert [partial_width(70_000, lv) for lv in range(3)] == [112, 17, 1]


@pytest.mark.parametrize("path", ["tile/0/x001/x234/067", "tile/63/000.p/255",
                                  "tile/entries/x001/000.p/1", "tile/entries/123"])
def test_parse_roundtrip(path: str) -> None:
    level, index, width = parse_tile_path(path)
    assert tile_path(level, index, width) == path


@pytest.mark.parametrize("path", ["tile/64/000", "tile/0/1", "tile/0/x000/001", "tile/0/000.p/0",
                                  "tile/0/000.p/256", "tile/0/../000", "tile/0/000.p/07",
                                  "/tile/0/000", "tile/x/000"])
def test_parse_rejects(path: str) -> None:
    with pytest.raises(ValueError, match="tile"):
        parse_tile_path(path)


def test_bundles() -> None:
    entries = [b"", b"a", b"x" * 300, b"y" * 65535]
    data = encode_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert decode_bundle(data) == entries
    with pytest.raises(LogCorrupt):
        decode_bundle(data[:-1])
    with pytest.raises(LogCorrupt):
        decode_bundle(data, expected=5)
    with pytest.raises(InvalidRecord):
        encode_bundle([b"z" * 65536])


@pytest.mark.parametrize("size", [1, 255, 256, 257, 65536, 65537, 70_000])
def test_tiles_written_and_read_back(tmp_path: Path, size: int) -> None:
    storage = FsLogStorage(tmp_path)
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    builder = TreeBuilder(storage)
    builder.append(leaves[: size // 2])
    builder.append(leaves[size // 2 :])
    builder.write_partials()
    hashes = [merkle.hash_leaf(x) for x in leaves]
    root = merkle.root_of(hashes)
    assert builder.root() == root
    expected = {tile_path(lv, n, w) for lv, n, w in tiles_for_size(size)}
    assert expected <= set(storage.list("tile/"))
    reader = TileReader(storage, size)
    assert reader.root() == root
    for index in {0, size // 3, size - 1}:
        proof = reader.inclusion_proof(index)
        merkle.verify_inclusion(index, size, hashes[index], proof, root)
        assert reader.entry(index) == leaves[index]
    for old in {1, size // 2 or 1, size}:
        merkle.verify_consistency(old, size, merkle.root_of(hashes[:old]), root,
                                  reader.consistency_proof(old))
    loaded = TreeBuilder.load(storage, size, root)
    assert loaded.root() == root and loaded.entries == builder.entries
    with pytest.raises(LogCorrupt):
        TreeBuilder.load(storage, size, merkle.EMPTY_ROOT)


def test_smaller_tree_reads_prefix_of_wider_partial(tmp_path: Path) -> None:
    storage = FsLogStorage(tmp_path)
    leaves = [bytes([i]) for i in range(200)]
    builder = TreeBuilder(storage)
    builder.append(leaves)
    builder.write_partials()  # only the width-200 partials exist
    reader = TileReader(storage, 150)
    hashes = [merkle.hash_leaf(x) for x in leaves[:150]]
    assert reader.root() == merkle.root_of(hashes)
    assert reader.entry(149) == leaves[149]
    with pytest.raises(LogCorrupt):
        TileReader(storage, 201).root()
