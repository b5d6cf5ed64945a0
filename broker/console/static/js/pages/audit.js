// Audit page: the latest checkpoint and its Ed25519 signature checked in this browser against a
// trusted log key; decision search; a decision's receipt (inclusion proof) verified here too;
// downloads of receipts and of an offline-verifiable export.

import { api } from "../lib/api.js";
import { b64decode, b64encode } from "../lib/bytes.js";
import { verifyConsistency } from "../lib/merkle.js";
import { field, h, replace } from "../lib/dom.js";
import { parseCheckpoint, parseNote, verifyNote } from "../lib/note.js";
import { verifyReceipt } from "../lib/receipt.js";
import { download, errorBox, jsonBlock, loading, prettyJsonText, progress } from "../lib/ui.js";
import { go } from "../main.js";

const PIN_KEY = "tollgate.console.trusted-log-key";
const SEEN_KEY = "tollgate.console.last-checkpoint";

export async function render(root, route) {
  const keyBox = h("section", { class: "card", "aria-labelledby": "key-title" });
  const cpBox = h("section", { class: "card", "aria-labelledby": "cp-title" });
  const searchBox = h("section", { class: "card", "aria-labelledby": "search-title" });
  const recordBox = h("section", { class: "card", "aria-labelledby": "record-title", "aria-live": "polite" });
  const exportBox = h("section", { class: "card", "aria-labelledby": "export-title" });
  replace(root, h("h2", {}, "Audit log"),
    h("p", { class: "help" }, "Every decision and change is a record in a signed, append-only Merkle log. " +
      "Nothing here trusts the server: signatures and proofs are checked in this browser (WebCrypto) against the log key you trust."),
    keyBox, cpBox, searchBox, recordBox, exportBox);

  const keyInput = h("input", { name: "vkey", class: "wide", spellcheck: "false", autocomplete: "off", size: "90" });
  const trusted = { get: () => keyInput.value.trim() };
  await renderKey(keyBox, keyInput);
  const recheck = () => renderCheckpoint(cpBox, trusted);
  keyInput.addEventListener("change", recheck);
  await recheck();
  renderSearch(searchBox, route);
  renderExport(exportBox);
  const id = route.query.get("decision");
  if (id) await renderRecord(recordBox, id, trusted);
  else replace(recordBox, h("h3", { id: "record-title" }, "Decision record"), h("p", { class: "muted" }, "Search, then choose a decision to verify its receipt."));
}

async function renderKey(box, input) {
  const pinned = localStorage.getItem(PIN_KEY);
  let published = [];
  let problem = null;
  try {
    const note = await api("/v1/audit/keys", { as: "text" });
    published = parseKeyHistory(parseNote(note).text);
  } catch (err) {
    problem = err;
  }
  const current = published.find((k) => k.notAfter === null) || published[published.length - 1];
  input.value = pinned || current?.vkey || "";
  const status = h("p", {});
  if (pinned) {
    const listed = published.some((k) => k.vkey === pinned);
    status.append(h("span", { class: "badge allow" }, "pinned"), " You pinned this key in this browser earlier.",
      published.length && !listed ? h("strong", { class: "error" }, " The server no longer publishes it: the log key changed. Find out why before trusting the new one.") : "");
  } else if (current) {
    status.append(h("span", { class: "badge" }, "from the server"),
      " Taken from the broker's published key history. Compare it with the key you received out of band, then pin it so a later substitution shows.");
  }
  const pin = h("button", { type: "button", onclick: () => {
    localStorage.setItem(PIN_KEY, input.value.trim());
    replace(status, h("span", { class: "badge allow" }, "pinned"), " Saved in this browser.");
  } }, "Pin this key");
  replace(box, h("h3", { id: "key-title" }, "Trusted log key"),
    field("Log verifier key (vkey)", input, "name+keyid+base64 key, as printed by the broker and used by tollgate audit verify --key.").wrap,
    h("div", { class: "toolbar" }, pin), status,
    problem ? errorBox(problem, "Key history") : null,
    published.length ? h("details", {}, h("summary", {}, `Published key history (${published.length})`),
      h("ul", {}, published.map((k) => h("li", {}, h("code", {}, k.vkey), ` valid from ${iso(k.notBefore)} ${k.notAfter ? `to ${iso(k.notAfter)}` : "(current)"}`)))) : null);
}

function parseKeyHistory(text) {
  return text.trim().split("\n").slice(2).map((line) => {
    const [, vkey, nb, na] = line.split(" ");
    return { vkey, notBefore: Number(nb), notAfter: na === "-" ? null : Number(na) };
  });
}

const iso = (s) => new Date(s * 1000).toISOString().replace(".000Z", "Z");

async function renderCheckpoint(box, trusted) {
  replace(box, h("h3", { id: "cp-title" }, "Latest checkpoint"), loading("Fetching and verifying…"));
  try {
    const note = await api("/v1/audit/checkpoint", { as: "text" });
    const { text, signatures } = parseNote(note);
    const cp = parseCheckpoint(text);
    const result = trusted.get()
      ? await verifyNote(note, trusted.get()).catch((err) => ({ ok: false, reason: `the trusted key is unusable: ${err.message}` }))
      : { ok: false, reason: "no trusted key given" };
    replace(box, h("h3", { id: "cp-title" }, "Latest checkpoint"),
      h("p", { "data-testid": "checkpoint-status", class: result.ok ? "ok-box" : "error", role: result.ok ? null : "alert" },
        result.ok ? "✔ Signature verified in this browser (Ed25519): " : "✘ Not verified: ", result.reason),
      h("dl", { class: "kv" },
        h("dt", {}, "origin"), h("dd", {}, cp.origin),
        h("dt", {}, "tree size"), h("dd", { "data-testid": "tree-size" }, String(cp.size), " records"),
        h("dt", {}, "root hash"), h("dd", {}, h("code", {}, text.split("\n")[2])),
        h("dt", {}, "signed at"), h("dd", {}, cp.time ? `${iso(cp.time)} (re-signed periodically even when idle)` : "—"),
        h("dt", {}, "signatures"), h("dd", {}, signatures.map((s) => s.name).join(", "))),
      result.ok ? await consistencyWithLastSeen(cp) : null,
      h("details", {}, h("summary", {}, "Signed note"), h("pre", { class: "code" }, note)),
      h("div", { class: "toolbar" }, h("button", { type: "button", onclick: () => download("checkpoint.txt", note, "text/plain") }, "Download checkpoint"),
        h("button", { type: "button", onclick: () => renderCheckpoint(box, trusted) }, "Refresh")));
  } catch (err) {
    replace(box, h("h3", { id: "cp-title" }, "Latest checkpoint"), errorBox(err, "Checkpoint"));
  }
}

/**
 * Compare with the last checkpoint this browser verified: the new tree must extend it (checked
 * here with a consistency proof), otherwise the log rewrote or truncated history. The newest
 * verified checkpoint is then remembered for the next visit.
 */
async function consistencyWithLastSeen(cp) {
  let seen = null;
  try {
    seen = JSON.parse(localStorage.getItem(SEEN_KEY) || "null");
  } catch {
    seen = null;
  }
  const remember = () => localStorage.setItem(SEEN_KEY, JSON.stringify({
    origin: cp.origin, size: String(cp.size), root: b64encode(cp.root), at: new Date().toISOString() }));
  if (!seen || seen.origin !== cp.origin) {
    remember();
    return h("p", { class: "muted", "data-testid": "consistency-status" }, "First checkpoint seen in this browser: remembered, so the next visit can prove the log only grew.");
  }
  let result;
  try {
    const old = BigInt(seen.size);
    let proof = [];
    if (old > 0n && old < cp.size) {
      const res = await api("/v1/audit/proof/consistency", { query: { old: seen.size, size: String(cp.size) } });
      proof = res.proof.map((x) => b64decode(x));
    }
    result = await verifyConsistency(old, cp.size, b64decode(seen.root), cp.root, proof);
  } catch (err) {
    result = { ok: false, reason: `could not check: ${err.message}` };
  }
  if (result.ok) remember();
  return h("p", { "data-testid": "consistency-status", class: result.ok ? "ok-box" : "error", role: result.ok ? null : "alert" },
    result.ok ? "✔ Consistent with the checkpoint you verified earlier" : "✘ NOT consistent with the checkpoint you verified earlier",
    ` (size ${seen.size}, ${seen.at.slice(0, 19)}Z): ${result.reason}.`);
}

function renderSearch(box, route) {
  const q = route.query;
  const inputs = {
    decision_id: h("input", { name: "decision_id", value: q.get("decision_id") || "" }),
    tenant: h("input", { name: "tenant", value: q.get("tenant") || "" }),
    model: h("input", { name: "model", value: q.get("model") || "" }),
    since: h("input", { type: "datetime-local", name: "since", step: "1", value: q.get("since") || "" }),
    until: h("input", { type: "datetime-local", name: "until", step: "1", value: q.get("until") || "" }),
  };
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "row", role: "search" },
    field("Decision id", inputs.decision_id).wrap, field("Tenant", inputs.tenant).wrap, field("Model", inputs.model).wrap,
    field("From (UTC)", inputs.since).wrap, field("Until (UTC)", inputs.until).wrap,
    h("button", { type: "submit", class: "primary" }, "Search"));
  const run = async () => {
    const query = {};
    for (const [k, el] of Object.entries(inputs)) {
      if (el.value) query[k] = el.type === "datetime-local" ? `${el.value.length === 16 ? `${el.value}:00` : el.value}Z` : el.value.trim();
    }
    replace(out, loading("Searching…"));
    try {
      const res = await api("/v1/audit/search", { query: { ...query, limit: 200 } });
      replace(out, resultsTable(res.items), res.next_after !== null && res.next_after !== undefined ? h("p", { class: "muted" }, "More results exist: narrow the search.") : null);
    } catch (err) {
      replace(out, errorBox(err, "Search"));
    }
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); run(); });
  replace(box, h("h3", { id: "search-title" }, "Search decisions"),
    h("p", { class: "help" }, "Any combination; empty fields match everything. Times are UTC."), form, out);
  run();
}

function resultsTable(items) {
  if (!items.length) return h("p", {}, "No matching records.");
  const rows = items.map((it) => {
    const rec = it.record || it;
    const id = rec.decision_id;
    const decision = rec.result?.decision;
    const what = rec.kind === "admin" ? `${rec.action} ${rec.subject || ""} by ${rec.actor || "?"}` : rec.input?.target || "";
    return h("tr", {},
      h("td", {}, String(it.index ?? "")),
      h("td", {}, rec.time || ""),
      h("td", {}, rec.kind || ""),
      h("td", {}, rec.tenant || ""), h("td", {}, rec.model || ""), h("td", {}, what),
      h("td", {}, decision ? h("span", { class: `badge ${decision === "allow" ? "allow" : "deny"}` }, decision) : ""),
      h("td", {}, id ? h("button", { type: "button", onclick: () => go("audit", [], { decision: id }), "aria-label": `Verify decision ${id}` }, "Verify receipt") : ""));
  });
  return h("table", { class: "data" }, h("caption", {}, `${items.length} records`),
    h("thead", {}, h("tr", {}, ["index", "time", "kind", "tenant", "model", "region / scope or change", "answer", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows));
}

async function renderRecord(box, decisionId, trusted) {
  replace(box, h("h3", { id: "record-title" }, "Decision record ", h("code", {}, decisionId)), loading("Fetching the receipt…"));
  try {
    const receipt = await api("/v1/audit/receipt", { query: { decision_id: decisionId }, as: "text" });
    const result = await verifyReceipt(receipt, trusted.get())
      .catch((err) => ({ ok: false, steps: [{ label: "receipt", ok: false, detail: err.message }] }));
    // Shown re-indented from the exact logged bytes (not re-serialised), so what you read is
    // what was hashed into the tree.
    const record = new TextDecoder().decode(result.entry || extraOf(receipt));
    replace(box, h("h3", { id: "record-title" }, "Decision record ", h("code", {}, decisionId)),
      h("p", { "data-testid": "receipt-status", class: result.ok ? "ok-box" : "error", role: result.ok ? null : "alert" },
        result.ok ? "✔ Receipt verified in this browser: the record is in the signed log." : "✘ Receipt NOT verified."),
      h("ol", { class: "steps" }, result.steps.map((s) => h("li", { class: s.ok ? "ok" : "bad" }, h("strong", {}, s.label), ": ", s.detail))),
      h("div", { class: "toolbar" },
        h("button", { type: "button", onclick: () => download(`receipt-${decisionId}.tlog-proof`, receipt, "text/plain") }, "Download receipt"),
        h("button", { type: "button", onclick: () => serverProof(box, decisionId) }, "Also ask the server for the inclusion proof")),
      record ? [h("h4", {}, "The logged record (exact input, result, revisions, engine, caller)"), h("pre", { class: "json", "data-testid": "record" }, prettyJsonText(record))] : null,
      h("details", {}, h("summary", {}, "Receipt (C2SP tlog-proof)"), h("pre", { class: "code" }, receipt)));
  } catch (err) {
    replace(box, h("h3", { id: "record-title" }, "Decision record ", h("code", {}, decisionId)), errorBox(err, "Receipt"));
  }
}

function extraOf(receipt) {
  const line = receipt.split("\n").find((l) => l.startsWith("extra "));
  return line ? b64decode(line.slice(6)) : new Uint8Array();
}

async function serverProof(box, decisionId) {
  try {
    const proof = await api("/v1/audit/proof/inclusion", { query: { decision_id: decisionId } });
    box.append(h("h4", {}, "Inclusion proof as served by the broker"), jsonBlock(proof));
  } catch (err) {
    box.append(errorBox(err, "Server proof"));
  }
}

function renderExport(box) {
  const from = h("input", { type: "number", name: "from", min: "0", value: "0" });
  const to = h("input", { type: "number", name: "to", min: "0", placeholder: "latest" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "row" },
    field("From index", from).wrap, field("To index (exclusive)", to, "Empty: up to the latest checkpoint.").wrap,
    h("button", { type: "submit", class: "primary" }, "Download export"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const bar = progress("Export");
    replace(out, bar.el);
    try {
      const response = await api("/v1/audit/export", { query: { from: from.value, to: to.value }, as: "response" });
      const blob = await readWithProgress(response, bar);
      const name = /filename="?([^";]+)"?/.exec(response.headers.get("content-disposition") || "")?.[1] || "audit-export.tar.gz";
      download(name, blob, "application/gzip");
      replace(out, h("p", { class: "ok-box", "data-testid": "export-done" }, `Saved ${name} (${blob.size} bytes). Verify it offline with: tollgate audit verify ${name} --key <the trusted key>`));
    } catch (err) {
      replace(out, errorBox(err, "Export"));
    }
  });
  replace(box, h("h3", { id: "export-title" }, "Export for offline verification"),
    h("p", { class: "help" }, "A tarball with the checkpoint, tiles, entries, verifier keys and a manifest."), form, out);
}

async function readWithProgress(response, bar) {
  const total = Number(response.headers.get("content-length")) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    bar.set(total ? received / total : null, `${(received / 1024).toFixed(0)} KiB${total ? ` of ${(total / 1024).toFixed(0)} KiB` : ""}`);
  }
  bar.set(1, "done");
  return new Blob(chunks, { type: "application/gzip" });
}
