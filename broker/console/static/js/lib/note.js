// C2SP signed notes and tlog checkpoints, verified with WebCrypto Ed25519.
//   note     = text (ends "\n") + "\n" + lines "— <name> base64(keyid[4] || signature[64])"
//   vkey     = "<name>+<hex keyid>+base64(0x01 || 32-byte public key)"
//   key id   = SHA-256(name || 0x0A || 0x01 || public key)[:4]

import { b64decode, concat, equal, fromHex, hex, sha256, utf8 } from "./bytes.js";

const DASH = "\u2014 ";

export function parseVkey(vkey) {
  const text = vkey.trim();
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first < 1 || second < 0) throw new Error("a verifier key looks like name+hexid+base64key");
  const name = text.slice(0, first);
  const keyId = text.slice(first + 1, second);
  if (!/^[0-9a-f]{8}$/.test(keyId)) throw new Error("the key id must be 8 lowercase hex digits");
  const material = b64decode(text.slice(second + 1), "key material");
  if (material.length !== 33 || material[0] !== 0x01) throw new Error("not an Ed25519 (type 0x01) key");
  return { name, keyId: fromHex(keyId), publicKey: material.slice(1) };
}

export async function keyIdOf(name, publicKey) {
  return (await sha256(concat(utf8(name), Uint8Array.of(0x0a, 0x01), publicKey))).slice(0, 4);
}

export function parseNote(noteText) {
  if (!noteText.endsWith("\n")) throw new Error("a signed note ends with a newline");
  const split = noteText.lastIndexOf("\n\n");
  if (split < 0) throw new Error("the note has no blank line before its signatures");
  const text = noteText.slice(0, split + 1);
  const signatures = noteText
    .slice(split + 2)
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      if (!line.startsWith(DASH)) throw new Error("a signature line starts with an em dash");
      const [name, b64, extra] = line.slice(DASH.length).split(" ");
      if (!name || !b64 || extra !== undefined) throw new Error("a signature line is '— <name> <base64>'");
      const blob = b64decode(b64, `signature by ${name}`);
      return { name, keyId: blob.slice(0, 4), signature: blob.slice(4) };
    });
  return { text, signatures };
}

export function parseCheckpoint(text) {
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new Error("a checkpoint has origin, size and root lines");
  const [origin, size, rootB64, ...extensions] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error(`checkpoint size ${size} is not a decimal`);
  const root = b64decode(rootB64, "checkpoint root");
  if (root.length !== 32) throw new Error("the checkpoint root is not 32 bytes");
  const time = extensions.find((e) => /^time \d+$/.test(e));
  return { origin, size: BigInt(size), root, extensions, time: time ? Number(time.slice(5)) : null };
}

/**
 * Verify a signed note against a vkey with WebCrypto. Resolves to
 * {ok, reason, text, keyId, signer} — never throws for a bad signature, only reports it.
 */
export async function verifyNote(noteText, vkey) {
  const key = parseVkey(vkey);
  const computed = await keyIdOf(key.name, key.publicKey);
  if (!equal(computed, key.keyId)) {
    return { ok: false, reason: `the key id in the published key (${hex(key.keyId)}) does not match the key` };
  }
  const { text, signatures } = parseNote(noteText);
  const mine = signatures.filter((s) => s.name === key.name && equal(s.keyId, key.keyId));
  if (!mine.length) {
    return { ok: false, text, reason: `no signature by ${key.name} (${hex(key.keyId)}) on this note` };
  }
  let cryptoKey;
  try {
    cryptoKey = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (err) {
    return { ok: false, text, reason: `this browser cannot verify Ed25519 (${err.message})` };
  }
  for (const s of mine) {
    const good = await crypto.subtle.verify({ name: "Ed25519" }, cryptoKey, s.signature, utf8(text));
    if (!good) return { ok: false, text, reason: `the signature by ${key.name} does not verify` };
  }
  return { ok: true, text, keyId: hex(key.keyId), signer: key.name, reason: `signed by ${key.name}` };
}
