// C2SP tlog-proof receipts, checked entirely in the browser:
//   c2sp.org/tlog-proof@v1 / [extra <base64 entry>] / index <n> / <base64 hashes> / "" / <checkpoint note>
// The signature is checked against the published key, then the entry's inclusion in that tree.

import { b64decode } from "./bytes.js";
import { leafHash, verifyInclusion } from "./merkle.js";
import { parseCheckpoint, verifyNote } from "./note.js";

export const RECEIPT_HEADER = "c2sp.org/tlog-proof@v1";

export function parseReceipt(text) {
  const split = text.indexOf("\n\n");
  if (split < 0) throw new Error("the receipt has no blank line before its checkpoint");
  const lines = text.slice(0, split).split("\n");
  if (lines[0] !== RECEIPT_HEADER) throw new Error(`a receipt starts with ${RECEIPT_HEADER}`);
  let pos = 1;
  let extra = null;
  if (lines[pos]?.startsWith("extra ")) {
    extra = b64decode(lines[pos].slice(6), "receipt entry");
    pos += 1;
  }
  const indexLine = lines[pos] || "";
  if (!/^index \d+$/.test(indexLine)) throw new Error("the receipt is missing its 'index <n>' line");
  const proof = lines.slice(pos + 1).map((l) => b64decode(l, "proof hash"));
  if (proof.some((p) => p.length !== 32)) throw new Error("a proof hash is not 32 bytes");
  return { index: BigInt(indexLine.slice(6)), proof, extra, note: text.slice(split + 2) };
}

/** Returns {ok, steps: [{label, ok, detail}], checkpoint, entry}. */
export async function verifyReceipt(text, vkey, entry = null) {
  const steps = [];
  const r = parseReceipt(text);
  steps.push({ label: "receipt parsed", ok: true, detail: `leaf index ${r.index}, ${r.proof.length} proof hashes` });
  const sig = await verifyNote(r.note, vkey);
  steps.push({ label: "checkpoint signature (Ed25519, WebCrypto)", ok: sig.ok, detail: sig.reason });
  if (!sig.ok) return { ok: false, steps };
  const checkpoint = parseCheckpoint(sig.text);
  const leafBytes = entry || r.extra;
  if (!leafBytes) {
    steps.push({ label: "entry", ok: false, detail: "the receipt carries no entry bytes" });
    return { ok: false, steps, checkpoint };
  }
  const inc = await verifyInclusion(r.index, checkpoint.size, await leafHash(leafBytes), r.proof, checkpoint.root);
  steps.push({
    label: "inclusion proof (RFC 6962, SHA-256)",
    ok: inc.ok,
    detail: `${inc.reason} (tree size ${checkpoint.size}, origin ${checkpoint.origin})`,
  });
  return { ok: inc.ok, steps, checkpoint, entry: leafBytes, index: r.index };
}
