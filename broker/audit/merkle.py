"""RFC 6962 / RFC 9162 Merkle tree hashing, proof generation and proof verification.

Hashes are 32-byte SHA-256 digests. Proof *generation* works over a callable that returns the
hash of a perfect subtree (``node(level, index)`` covers leaves ``[index << level, (index + 1)
<< level)``), so the same code serves in-memory lists and stored tiles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from broker.audit.errors import InvalidProof

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeGetter = Callable[[int, int], bytes]


def hash_leaf(data: bytes) -> bytes:
    """Leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH over a list of sibling hashes (leaf hashes, or equal-height subtree hashes).

    Pairing bottom-up and promoting an odd last element unchanged builds exactly the
    left-balanced tree RFC 6962 defines, without recursion.
    """
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    sha = hashlib.sha256
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(start: int, end: int, node: NodeGetter) -> bytes:
    """MTH of leaves ``[start, end)`` where ``start`` is aligned as RFC 6962 subtrees are."""
    size = end - start
    if size <= 0:
        raise ValueError("empty range")
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return node(level, start >> level)
    k = _split(size)
    return hash_children(range_hash(start, start + k, node), range_hash(start + k, end, node))


def list_node_getter(leaf_hashes: Sequence[bytes]) -> NodeGetter:
    """A node getter over an in-memory list of leaf hashes (for tests and small trees)."""

    def node(level: int, index: int) -> bytes:
        lo = index << level
        return root_of(leaf_hashes[lo : lo + (1 << level)])

    return node


def inclusion_proof(index: int, size: int, node: NodeGetter) -> list[bytes]:
    """PATH(index, D[size]) from RFC 6962 §2.1.1, leaf sibling first."""
    if not 0 <= index < size:
        raise InvalidProof(f"leaf index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    # Walk down from the root, recording the sibling subtree at each split; reverse at the end.
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(start + k, end, node))
            end = start + k
        else:
            path.append(range_hash(start, start + k, node))
            start += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, node: NodeGetter) -> list[bytes]:
    """PROOF(old_size, D[new_size]) from RFC 6962 §2.1.2; empty when the sizes are equal."""
    if not 0 < old_size <= new_size:
        raise InvalidProof(f"no consistency proof from size {old_size} to size {new_size}")
    path: list[bytes] = []
    start, end, m, complete = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            path.append(range_hash(start + k, end, node))
            end = start + k
        else:
            path.append(range_hash(start, start + k, node))
            start, m, complete = start + k, m - k, False
    if not complete:
        path.append(range_hash(start, end, node))
    path.reverse()
    return path


def _check_hashes(*hashes: bytes) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise InvalidProof(f"hash has {len(h)} bytes, expected {HASH_SIZE}")


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2); raises on a malformed proof."""
    if not 0 <= index < size:
        raise InvalidProof(f"leaf index {index} is outside a tree of size {size}")
    _check_hashes(leaf_hash, *proof)
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise InvalidProof("inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("inclusion proof is shorter than the tree is high")
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise :class:`InvalidProof` unless ``proof`` shows ``leaf_hash`` at ``index`` under ``root``."""
    if root_from_inclusion_proof(index, size, leaf_hash, proof) != root:
        raise InvalidProof(f"inclusion proof for leaf {index} does not lead to the tree root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise :class:`InvalidProof` unless the trees are consistent (RFC 9162 §2.1.4.2).

    Size 0 is rejected here, as transparency-dev/merkle does; the witness protocol layer
    handles "the empty tree is consistent with anything" itself.
    """
    _check_hashes(old_root, new_root, *proof)
    if not 0 < old_size <= new_size:
        raise InvalidProof(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == new_size:
        if proof:
            raise InvalidProof("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise InvalidProof(f"two different roots for tree size {old_size}")
        return
    if not proof:
        raise InvalidProof("empty consistency proof between different sizes")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect subtree, so its root is the implicit first proof node.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("consistency proof is too short")
    if fr != old_root:
        raise InvalidProof(f"consistency proof does not reproduce the root of size {old_size}")
    if sr != new_root:
        raise InvalidProof(f"consistency proof does not reproduce the root of size {new_size}")
