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

/**
 * Check that the tree of size `second` (root `secondRoot`) extends the tree of size `first`
 * (root `firstRoot`) using a consistency proof (RFC 9162 §2.1.4.2): this is what catches a log
 * that rewrote or truncated history after an auditor saw an earlier checkpoint.
 */
export async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  const m = BigInt(first);
  const n = BigInt(second);
  if (m > n) return { ok: false, reason: `the log shrank from ${m} to ${n} records` };
  if (m === n) {
    return proof.length === 0 && equal(firstRoot, secondRoot)
      ? { ok: true, reason: "same tree" }
      : { ok: false, reason: "same size but a different root: history was rewritten" };
  }
  if (m === 0n) return { ok: true, reason: "an empty tree is a prefix of every tree" };
  if (!proof.length) return { ok: false, reason: "an empty consistency proof" };
  const path = (m & (m - 1n)) === 0n ? [firstRoot, ...proof] : [...proof];
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return { ok: false, reason: "the proof is longer than the tree is deep" };
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) return { ok: false, reason: "the proof is shorter than the tree is deep" };
  if (!equal(fr, firstRoot)) return { ok: false, reason: "the proof does not lead to the earlier root: history was rewritten" };
  if (!equal(sr, secondRoot)) return { ok: false, reason: "the proof does not lead to the new root" };
  return { ok: true, reason: `the ${n}-record tree extends the ${m}-record tree you saw` };
}
