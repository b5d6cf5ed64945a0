// Registry page: browse and search every kind at the current or a past revision; each sourced
// fact shows its citation and confidence; compare two revisions field by field.

import { go } from "../main.js";
import { api } from "../lib/api.js";
import { field, h, replace, select } from "../lib/dom.js";
import { errorBox, loading, renderValue, sourceBadge, table } from "../lib/ui.js";

const KINDS = [
  ["models", "Models", (e) => `${e.provider} · ${e.weights} weights`],
  ["tenants", "Tenants", (e) => `${e.hq_country}${e.demo ? " · demo" : ""}`],
  ["regions", "Regions", (e) => `${e.country}${e.city ? ` · ${e.city}` : ""}`],
  ["scopes", "Routing scopes", (e) => `${e.members.length} member regions`],
  ["jurisdictions", "Jurisdictions", (e) => e.code],
  ["providers", "Providers", (e) => `${e.hq_country}`],
];

const keyOf = (e) => e.id ?? e.code;

export async function render(root, route) {
  const kind = KINDS.some(([k]) => k === route.query.get("kind")) ? route.query.get("kind") : "models";
  const rev = route.query.get("rev") || "";
  const q = route.query.get("q") || "";
  const selected = route.query.get("id") || "";
  const state = { kind, rev, q, id: selected };
  const nav = (patch) => go("registry", [], { ...state, ...patch });

  const revisions = await api("/v1/registry/revisions", { query: { limit: 200 } });
  const head = revisions.revision;
  const revSelect = select("rev", [["", `current (${head})`],
    ...revisions.items.map((r) => [String(r.number), `${r.number} · ${r.created_at.slice(0, 10)} · ${r.message.slice(0, 50)}`])], rev);
  // Keep the selected entry: reading one entity at another revision is the point of the picker.
  revSelect.addEventListener("change", () => nav({ rev: revSelect.value }));
  const search = h("input", { type: "search", name: "q", value: q, placeholder: "id or name" });
  const form = h("form", { class: "row", role: "search" },
    field("Revision", revSelect, "Read the registry exactly as it was at that revision.").wrap,
    field("Search", search, "Substring of an id or name.").wrap,
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); nav({ q: search.value, id: "" }); });

  const tabs = h("div", { class: "tabs", role: "group", "aria-label": "Kind" },
    KINDS.map(([k, label]) => h("button", { type: "button", "aria-pressed": String(k === kind), onclick: () => nav({ kind: k, id: "", q: "" }) }, label)));

  const listBox = h("div", {}, loading());
  const detail = h("div", { class: "card", "aria-live": "polite" }, h("p", { class: "muted" }, "Choose an entry to see its facts and sources."));
  const diffBox = h("section", { class: "card", "aria-labelledby": "diff-title" });

  replace(root,
    h("h2", {}, "Registry"),
    h("p", { class: "help" }, "The sourced facts Tollgate decides from. Confidence: confirmed (official), secondary (agreeing press/analysis), unconfirmed (verify before relying)."),
    form, tabs,
    h("div", { class: "split" }, listBox, detail),
    diffBox);

  renderDiff(diffBox, revisions, route);
  const readRev = rev || undefined;
  try {
    const page = await api(`/v1/registry/${kind}`, { query: { revision: readRev, q, limit: 500 } });
    const sub = KINDS.find(([k]) => k === kind)[2];
    const items = page.items.map((e) => h("li", {},
      h("button", { type: "button", "aria-current": String(keyOf(e) === selected), onclick: () => nav({ id: keyOf(e) }) },
        e.name || keyOf(e), h("span", { class: "sub" }, `${keyOf(e)} · ${safe(sub, e)}`))));
    replace(listBox,
      h("p", { class: "muted" }, `${page.total} ${kind} at revision ${page.revision}${page.total > page.items.length ? ` (first ${page.items.length})` : ""}`),
      h("ul", { class: "list", "aria-label": `${kind} list` }, items));
  } catch (err) {
    replace(listBox, errorBox(err, "Listing failed"));
  }
  if (selected) {
    try {
      const entity = await api(`/v1/registry/${kind}/${encodeURIComponent(selected)}`, { query: { revision: readRev } });
      replace(detail, h("h3", {}, entity.name || selected, " ", h("code", {}, selected)),
        topSource(entity), renderValue(entity));
    } catch (err) {
      replace(detail, errorBox(err, `${selected} at this revision`));
    }
  }
}

function safe(fn, e) {
  try { return fn(e); } catch { return ""; }
}

function topSource(entity) {
  if (entity.source) return h("p", {}, "Source: ", sourceBadge(entity.source));
  if ("demo" in entity && entity.demo) return h("p", { class: "notice" }, "Demo data: not a sourced fact.");
  return null;
}

function renderDiff(box, revisions, route) {
  const numbers = revisions.items.map((r) => String(r.number));
  const to = route.query.get("to") || numbers[0] || "0";
  const from = route.query.get("from") || numbers[1] || "0";
  const options = [...numbers, "0"].map((n) => [n, n === "0" ? "0 (empty)" : n]);
  const fromSel = select("from", options, from);
  const toSel = select("to", options, to);
  const out = h("div");
  const form = h("form", { class: "row" },
    field("From revision", fromSel).wrap, field("To revision", toSel).wrap,
    h("button", { type: "submit" }, "Show differences"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    replace(out, loading("Comparing…"));
    try {
      const diff = await api("/v1/registry/diff", { query: { from: fromSel.value, to: toSel.value } });
      replace(out, diffView(diff));
    } catch (err) {
      replace(out, errorBox(err, "Diff failed"));
    }
  });
  replace(box, h("h3", { id: "diff-title" }, "What changed between two revisions"),
    h("p", { class: "help" }, "Added, removed and changed entries, with each changed field's old and new value."),
    form, out);
}

function diffView(diff) {
  const sections = [];
  for (const [kind, d] of Object.entries(diff.kinds)) {
    if (!d.added.length && !d.removed.length && !d.changed.length) continue;
    const rows = [
      ...d.added.map((id) => [h("span", { class: "badge allow" }, "added"), id, "", "", ""]),
      ...d.removed.map((id) => [h("span", { class: "badge deny" }, "removed"), id, "", "", ""]),
      ...d.changed.flatMap((c) => c.changes.map((f) => [h("span", { class: "badge" }, "changed"), c.id, f.path,
        short(f.old), short(f.new)])),
    ];
    sections.push(table(["change", "id", "field", "old", "new"], rows, `${kind}: ${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed`));
  }
  return sections.length ? h("div", {}, sections) : h("p", {}, `No differences between ${diff.from} and ${diff.to}.`);
}

function short(v) {
  if (v === null || v === undefined) return h("span", { class: "muted" }, "—");
  const text = typeof v === "string" ? v : JSON.stringify(v);
  return text.length > 160 ? h("details", {}, h("summary", {}, `${text.slice(0, 60)}…`), h("pre", { class: "json" }, JSON.stringify(v, null, 2))) : text;
}
