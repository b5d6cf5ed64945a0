// Impact diff view: who gains or loses which model where, grouped per tenant and model,
// filterable by tenant, change kind, reason code and free text; exportable as JSON or CSV.

import { field, h, replace, select } from "../lib/dom.js";
import { download, table } from "../lib/ui.js";

const KIND_LABEL = { gain: "gains access", lose: "loses access", reasons: "reasons change", obligations: "obligations change" };

/** `serverCsv` (optional) fetches the broker's own CSV export; otherwise the CSV is built here. */
export function impactView(report, serverCsv = null) {
  const s = report.summary || {};
  const groups = report.groups || [];
  const tenants = [...new Set(groups.map((g) => g.tenant))].sort();
  const codes = [...new Set(groups.flatMap((g) => [...(g.codes_added || []), ...(g.codes_removed || [])]))].sort();
  const fTenant = select("tenant", [["", "all tenants"], ...tenants]);
  const fKind = select("kind", [["", "all changes"], ...Object.entries(KIND_LABEL)]);
  const fCode = select("code", [["", "any reason code"], ...codes]);
  const fText = h("input", { type: "search", name: "text", placeholder: "model, region…" });
  const out = h("div", { "aria-live": "polite" });

  function paint() {
    const text = fText.value.trim().toLowerCase();
    const shown = groups.filter((g) => (!fTenant.value || g.tenant === fTenant.value)
      && (!fKind.value || g.change === fKind.value)
      && (!fCode.value || (g.codes_added || []).includes(fCode.value) || (g.codes_removed || []).includes(fCode.value))
      && (!text || `${g.model} ${(g.targets || []).join(" ")}`.toLowerCase().includes(text)));
    const byTenant = new Map();
    for (const g of shown) byTenant.set(g.tenant, [...(byTenant.get(g.tenant) || []), g]);
    replace(out, shown.length ? [...byTenant].map(([tenant, gs]) => h("section", { class: "impact-tenant" },
      h("h5", {}, tenant, ` (${gs.reduce((n, g) => n + g.count, 0)} decisions)`),
      table(["change", "model", "regions / scopes", "codes added", "codes removed", "from", "count"], gs.map((g) => [
        h("span", { class: `badge ${g.change === "gain" ? "allow" : g.change === "lose" ? "deny" : ""}` }, KIND_LABEL[g.change] || g.change),
        g.model, (g.targets || []).join(", "), (g.codes_added || []).join(", "), (g.codes_removed || []).join(", "),
        (g.at || [])[0] || "", String(g.count)]))))
      : h("p", {}, groups.length ? "No change matches the filters." : "No decision changes: this version answers exactly like the active one."));
  }
  for (const el of [fTenant, fKind, fCode]) el.addEventListener("change", paint);
  fText.addEventListener("input", paint);
  paint();

  return h("div", { "data-testid": "impact" },
    h("p", { class: "impact-summary" },
      h("strong", {}, `${s.changed ?? 0} decisions change`), ` — ${s.gained ?? 0} gain access, ${s.lost ?? 0} lose it, `,
      `${s.reasons_changed ?? 0} change reasons; ${s.tenants_affected ?? 0} tenants and ${s.models_affected ?? 0} models affected`,
      s.evaluations ? ` (${s.evaluations} evaluations` : "", report.duration_s !== undefined ? ` in ${report.duration_s}s)` : s.evaluations ? ")" : "", "."),
    h("p", { class: "help" }, `Compared with ${report.base_version_id ? report.base_version_id.slice(0, 12) : "no active version"} over every tenant × ${report.matrix?.scope === "full" ? "target × model" : "deployed (target, model)"} at now and each window edge in the next ${report.horizon_days ?? "?"} days`,
      report.replay ? `, and by replaying ${report.replay.records} logged decisions since ${report.replay.since}` : "", "."),
    relevanceNote(report.matrix?.relevance),
    h("div", { class: "row" }, field("Tenant", fTenant).wrap, field("Change", fKind).wrap, field("Reason code", fCode).wrap, field("Filter", fText).wrap),
    h("div", { class: "toolbar" },
      h("button", { type: "button", onclick: () => download(`impact-${(report.id || "report").slice(0, 12)}.json`, JSON.stringify(report, null, 2), "application/json") }, "Export JSON"),
      h("button", { type: "button", onclick: async () => download(`impact-${(report.id || "report").slice(0, 12)}.csv`, serverCsv ? await serverCsv() : toCsv(report.changes || []), "text/csv") }, "Export CSV")),
    out);
}

// What the change-relevance stage did: which rules changed, which registry fields they read.
function relevanceNote(rel) {
  if (!rel) return null;
  if (!rel.used) return h("p", { class: "help", "data-testid": "relevance" }, `Every class evaluated (${rel.reason || "no relevance analysis"}).`);
  return h("p", { class: "help", "data-testid": "relevance" },
    `Changed rules: ${(rel.changed_rules || []).join(", ") || "none"}; they read ${(rel.fields || []).join(", ") || "no registry field"}. `,
    `Of ${rel.tenant_classes ?? 0} projected tenant classes × ${rel.pair_classes ?? 0} projected (target, model) classes, ${rel.flagged ?? 0} combinations could change and were evaluated in full.`);
}

export function toCsv(changes) {
  const cols = ["source", "change", "tenant", "target", "model", "at", "base_allow", "candidate_allow", "base_codes", "candidate_codes", "decision_id"];
  const cell = (v) => {
    const text = Array.isArray(v) ? v.join(" ") : v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [cols.join(","), ...changes.map((c) => cols.map((k) => cell(c[k])).join(","))].join("\n") + "\n";
}
