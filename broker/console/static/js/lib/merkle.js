// RFC 6962 / RFC 9162 Merkle hashing and inclusion-proof verification with SubtleCrypto.
// Leaf hash = SHA-256(0x00 || entry); interior node = SHA-256(0x01 || left || right).

import { concat, equal, hex, sha256 } from "./bytes.js";

export const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
export const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

/**
 * Recompute the root from a leaf and its audit path (RFC 9162 §2.1.3.2) and compare it with
 * `root`. Indices are BigInt so trees beyond 2^32 leaves are handled exactly.
 * Returns {ok, computed, reason}.
 */
export async function verifyInclusion(index, size, leaf, proof, root) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (BigInt(index) >= BigInt(size)) return fail(`index ${index} is outside a tree of size ${size}`);
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return fail("the proof is longer than the tree is deep");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) return fail("the proof is shorter than the tree is deep", r);
  if (!equal(r, root)) return fail(`computed root ${hex(r)} differs from the checkpoint root`, r);
  return { ok: true, computed: r, reason: "the entry is included in the checkpointed tree" };

  function fail(reason, computed = null) {
    return { ok: false, computed, reason };
  }
}
