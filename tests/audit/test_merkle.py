"""Merkle hashing and proofs against the CT 8-leaf vectors, exhaustive pairs and properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.audit import merkle
from broker.audit.errors import InvalidProof

h = bytes.fromhex

# transparency-dev/merkle proof/verify_test.go (originally google/certificate-transparency).
LEAVES = [h(x) for x in ["", "00", "10", "2021", "3031", "40414243",
                          "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
ROOTS = [h(x) for x in [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]
# (1-based leaf, tree size, path)
INCLUSION = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
LEAF_HASHES = [merkle.hash_leaf(x) for x in LEAVES]
NODE = merkle.list_node_getter(LEAF_HASHES)


def test_hasher_vectors() -> None:
    # transparency-dev/merkle rfc6962/rfc6962_test.go
    assert merkle.EMPTY_ROOT.hex() == hashlib.sha256(b"").hexdigest()
    assert merkle.hash_leaf(b"").hex() == ROOTS[0].hex()
    assert merkle.hash_leaf(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    assert merkle.hash_children(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")


def test_roots_of_every_prefix() -> None:
    for n in range(1, 9):
        assert merkle.root_of(LEAF_HASHES[:n]) == ROOTS[n - 1]
        assert merkle.range_hash(0, n, NODE) == ROOTS[n - 1]
    assert merkle.root_of([]) == merkle.EMPTY_ROOT


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION)
def test_inclusion_vectors(leaf: int, size: int, path: list[str]) -> None:
    proof = [h(p) for p in path]
    assert merkle.inclusion_proof(leaf - 1, size, NODE) == proof
    merkle.verify_inclusion(leaf - 1, size, LEAF_HASHES[leaf - 1], proof, ROOTS[size - 1])
    for bad_index, bad_size in [(leaf - 2, size), (leaf, size), ((leaf - 1) ^ 2, size),
                                (leaf - 1, size * 2), (leaf - 1, size // 2)]:
        with pytest.raises(InvalidProof):
            merkle.verify_inclusion(bad_index, bad_size, LEAF_HASHES[leaf - 1], proof,
                                    ROOTS[size - 1])
    for i in range(len(proof)):
        mutated = list(proof)
        mutated[i] = bytes([mutated[i][0] ^ 8]) + mutated[i][1:]
        with pytest.raises(InvalidProof):
            merkle.verify_inclusion(leaf - 1, size, LEAF_HASHES[leaf - 1], mutated,
                                    ROOTS[size - 1])
    for mutated in [proof[:-1], [*proof, ROOTS[size - 1]], [ROOTS[size - 1], *proof]]:
        with pytest.raises(InvalidProof):
            merkle.verify_inclusion(leaf - 1, size, LEAF_HASHES[leaf - 1], mutated,
                                    ROOTS[size - 1])


@pytest.mark.parametrize(("m", "n", "path"), CONSISTENCY)
def test_consistency_vectors(m: int, n: int, path: list[str]) -> None:
    proof = [h(p) for p in path]
    assert merkle.consistency_proof(m, n, NODE) == proof
    merkle.verify_consistency(m, n, ROOTS[m - 1], ROOTS[n - 1], proof)
    if not proof:
        return
    bad_cases = [
        (m - 1, n, ROOTS[m - 1], ROOTS[n - 1], proof),
        (m + 1, n, ROOTS[m - 1], ROOTS[n - 1], proof),
        (m ^ 2, n, ROOTS[m - 1], ROOTS[n - 1], proof),
        (m, n * 2, ROOTS[m - 1], ROOTS[n - 1], proof),
        (m, n // 2, ROOTS[m - 1], ROOTS[n - 1], proof),
        (m, n, ROOTS[n - 1], ROOTS[m - 1], proof),
        (m, n, ROOTS[m - 1], ROOTS[n - 1], []),
        (m, n, ROOTS[m - 1], ROOTS[n - 1], [*proof, ROOTS[m - 1]]),
        (m, n, ROOTS[m - 1], ROOTS[n - 1], [proof[0], *proof]),
        (m, n, ROOTS[m - 1], ROOTS[n - 1], proof[:-1]),
    ]
    for i in range(len(proof)):
        mutated = list(proof)
        mutated[i] = bytes([mutated[i][0] ^ 16]) + mutated[i][1:]
        bad_cases.append((m, n, ROOTS[m - 1], ROOTS[n - 1], mutated))
    for bm, bn, r1, r2, bp in bad_cases:
        with pytest.raises(InvalidProof):
            merkle.verify_consistency(bm, bn, r1, r2, bp)


def test_edge_cases_rejected() -> None:
    with pytest.raises(InvalidProof):
        merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    with pytest.raises(InvalidProof):
        merkle.verify_consistency(2, 1, ROOTS[1], ROOTS[0], [])
    with pytest.raises(InvalidProof):
        merkle.verify_consistency(1, 1, ROOTS[0], ROOTS[1], [])
    with pytest.raises(InvalidProof):
        merkle.verify_inclusion(0, 0, ROOTS[0], [], merkle.EMPTY_ROOT)
    with pytest.raises(InvalidProof):
        merkle.verify_inclusion(0, 1, b"short", [], b"short")
    with pytest.raises(InvalidProof):
        merkle.inclusion_proof(3, 3, NODE)
    with pytest.raises(InvalidProof):
        merkle.consistency_proof(0, 3, NODE)


def test_every_pair_up_to_128() -> None:
    leaves = [merkle.hash_leaf(i.to_bytes(4, "big")) for i in range(128)]
    node = merkle.list_node_getter(leaves)
    roots = [merkle.root_of(leaves[:n]) for n in range(129)]
    for n in range(1, 129):
        for m in range(n):
            proof = merkle.inclusion_proof(m, n, node)
            merkle.verify_inclusion(m, n, leaves[m], proof, roots[n])
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, n, node)
            merkle.verify_consistency(m, n, roots[m], roots[n], proof)
            if m < n:
                with pytest.raises(InvalidProof):
                    merkle.verify_consistency(m, n, roots[m], roots[n - 1], proof)


@st.composite
def tree_and_sizes(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    data = draw(st.lists(st.binary(max_size=8), min_size=1, max_size=300))
    n = len(data)
    m = draw(st.integers(1, n))
    return [merkle.hash_leaf(d) for d in data], m, n


@settings(max_examples=150, deadline=None)
@given(tree_and_sizes(), st.integers(0, 2**64), st.integers(0, 31), st.integers(0, 7))
def test_property_proofs(case: tuple[list[bytes], int, int], seed: int, byte: int, bit: int) -> None:
    leaves, m, n = case
    node = merkle.list_node_getter(leaves)
    root_m, root_n = merkle.root_of(leaves[:m]), merkle.root_of(leaves)
    index = seed % n
    proof = merkle.inclusion_proof(index, n, node)
    merkle.verify_inclusion(index, n, leaves[index], proof, root_n)
    cproof = merkle.consistency_proof(m, n, node)
    merkle.verify_consistency(m, n, root_m, root_n, cproof)
    # Any single flipped bit in any proof hash must be rejected.
    if proof:
        i = seed % len(proof)
        bad = bytearray(proof[i])
        bad[byte] ^= 1 << bit
        with pytest.raises(InvalidProof):
            merkle.verify_inclusion(index, n, leaves[index], [*proof[:i], bytes(bad),
                                                              *proof[i + 1:]], root_n)
    if cproof:
        i = seed % len(cproof)
        bad = bytearray(cproof[i])
        bad[byte] ^= 1 << bit
        with pytest.raises(InvalidProof):
            merkle.verify_consistency(m, n, root_m, root_n, [*cproof[:i], bytes(bad),
                                                             *cproof[i + 1:]])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=4), min_size=1, max_size=200))
def test_property_root_matches_rfc_definition(data: list[bytes]) -> None:
    def mth(d: list[bytes]) -> bytes:
        if len(d) == 1:
            return merkle.hash_leaf(d[0])
        k = 1 << ((len(d) - 1).bit_length() - 1)
        return merkle.hash_children(mth(d[:k]), mth(d[k:]))

    assert merkle.root_of([merkle.hash_leaf(x) for x in data]) == mth(data)
