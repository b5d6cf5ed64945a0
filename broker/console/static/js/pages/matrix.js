// Routing matrix: models × regions/scopes for one tenant at one time, from the routes API
// (one GET /v1/tenants/{id}/routes per column). A second date shows which cells flip, and the
// scheduled transitions list says when (covered-frontier windows opening, letters taking force).

import { go } from "../main.js";
import { api } from "../lib/api.js";
import { hasRole } from "../lib/auth.js";
import { field, h, replace, select } from "../lib/dom.js";
import { errorBox, localInputToRfc3339, progress, reasonList, table } from "../lib/ui.js";
import { grid } from "./matrixgrid.js";
import { registryChoices } from "./shared.js";

const COLUMN_SETS = [
  ["scopes", "Routing scopes"],
  ["aws", "AWS regions"],
  ["azure", "Azure regions"],
  ["gcp", "Google Cloud regions"],
];
const PARALLEL = 6;

export async function render(root, route) {
  const q = route.query;
  const choices = hasRole("officer", "admin") ? await registryChoices() : null;
  const tenantInput = choices
    ? select("tenant", choices.tenants.map(([id, name]) => [id, `${name} (${id})`]), q.get("tenant") || "")
    : h("input", { name: "tenant", value: q.get("tenant") || "", required: true });
  // Without registry access (gateway tokens) the columns are typed in instead of picked.
  const columnsSel = choices ? select("columns", COLUMN_SETS, q.get("columns") || "scopes")
    : h("input", { name: "columns", value: q.get("columns") || "aws-bedrock:us, aws-bedrock:eu", size: "40" });
  const at = h("input", { type: "datetime-local", name: "at", step: "1", value: q.get("at") || "" });
  const compare = h("input", { type: "datetime-local", name: "compare", step: "1", value: q.get("compare") || "" });
  const notDeployedRed = h("input", { type: "checkbox", name: "strict", checked: q.get("strict") === "1" });
  const form = h("form", { class: "card" },
    h("div", { class: "row" },
      field("Tenant", tenantInput).wrap,
      field("Columns", columnsSel, choices ? "Which regions or routing scopes to show." : "Region or scope ids, comma separated.").wrap,
      field("Date and time (UTC)", at, "Empty: now.").wrap,
      field("Compare with (UTC)", compare, "Optional later date: cells that change are outlined.").wrap),
    h("label", {}, notDeployedRed, " Show “not served here” (MODEL_NOT_DEPLOYED) as red instead of grey"),
    h("div", {}, h("button", { type: "submit", class: "primary" }, "Show matrix")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("matrix", [], { tenant: tenantInput.value, columns: columnsSel.value, at: at.value, compare: compare.value, strict: notDeployedRed.checked ? "1" : "" });
  });
  const out = h("div");
  replace(root, h("h2", {}, "Routing matrix"),
    h("p", { class: "help" }, "Green: allowed. Red: denied (select a cell, or move with the arrow keys and press Enter, to see why). Grey: the model is not served there. A yellow ring means allowed with an obligation."),
    form, out);
  const tenant = q.get("tenant");
  if (!tenant) return;

  const columns = columnIds(q.get("columns") || (choices ? "scopes" : ""), choices);
  if (!columns.length) {
    replace(out, h("p", {}, "Choose at least one region or routing scope."));
    return;
  }
  const bar = progress("Evaluating routes");
  replace(out, bar.el);
  try {
    const first = await fetchColumns(tenant, columns, localInputToRfc3339(q.get("at")), (n) => bar.set(n / columns.length, `${n} of ${columns.length} columns`));
    let second = null;
    if (q.get("compare")) {
      bar.set(0, "comparison date…");
      second = await fetchColumns(tenant, columns, localInputToRfc3339(q.get("compare")), (n) => bar.set(n / columns.length, `comparison: ${n} of ${columns.length}`));
    }
    const models = choices ? choices.models.map(([id]) => id) : modelsFrom(first);
    const detail = h("section", { class: "card cell-detail", "aria-live": "polite", "aria-label": "Cell details" },
      h("p", { class: "muted" }, "Select a cell to see its reasons and the facts behind them."));
    const strict = q.get("strict") === "1";
    const meta = first[columns[0]];
    replace(out,
      h("p", {}, `Tenant `, h("code", {}, tenant), ` at ${meta.evaluated_at}; policy ${meta.policy_revision}, registry revision ${meta.registry_revision}.`,
        second ? ` Compared with ${second[columns[0]].evaluated_at}.` : ""),
      legend(),
      h("div", { class: "split matrix-split" },
        grid({ models, columns, first, second, strict, onSelect: (cell) => replace(detail, cellDetail(cell)) }),
        detail),
      second ? changesTable(models, columns, first, second) : null,
      await transitions(tenant, q));
  } catch (err) {
    replace(out, errorBox(err, "Routes failed"));
  }
}

function columnIds(set, choices) {
  if (!choices) return set.split(/[\s,]+/).filter(Boolean);
  if (set === "scopes") return choices.scopes.map((s) => s.id);
  return choices.regions.filter((r) => r.cloud === set).map((r) => r.id);
}

async function fetchColumns(tenant, columns, at, onProgress) {
  const out = {};
  let done = 0;
  let next = 0;
  async function worker() {
    while (next < columns.length) {
      const col = columns[next++];
      out[col] = await api(`/v1/tenants/${encodeURIComponent(tenant)}/routes`, { query: { region: col, at } });
      onProgress(++done);
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, columns.length) }, worker));
  return out;
}

function modelsFrom(tables) {
  const ids = new Set();
  for (const t of Object.values(tables)) for (const e of [...t.allowed, ...t.excluded]) ids.add(e.model);
  return [...ids].sort();
}

function legend() {
  return h("p", { class: "legend" },
    h("span", {}, h("span", { class: "sw allow" }), "allowed"),
    h("span", {}, h("span", { class: "sw obl" }), "allowed with obligation"),
    h("span", {}, h("span", { class: "sw deny" }), "denied"),
    h("span", {}, h("span", { class: "sw none" }), "not served there"));
}

function cellDetail(cell) {
  const r = cell.entry;
  const title = h("h3", {}, h("code", {}, cell.model), " in ", h("code", {}, cell.column));
  if (!r) return [title, h("p", {}, "No answer for this cell.")];
  const parts = [title,
    h("p", {}, h("span", { class: `badge ${cell.allow ? "allow" : "deny"}` }, cell.allow ? "ALLOW" : "DENY"),
      r.valid_until ? ` · may change at ${r.valid_until}` : "")];
  parts.push(h("h4", {}, "Reasons"), reasonList(r.reasons));
  if (r.obligations?.length) parts.push(h("h4", {}, "Obligations"), h("pre", { class: "json" }, JSON.stringify(r.obligations, null, 2)));
  if (cell.later) {
    parts.push(h("h4", {}, "At the comparison date"),
      h("p", {}, h("span", { class: `badge ${cell.laterAllow ? "allow" : "deny"}` }, cell.laterAllow ? "ALLOW" : "DENY")),
      reasonList(cell.later.reasons));
  }
  parts.push(h("p", {}, h("a", { href: `#/decide?tenant=${encodeURIComponent(cell.tenant)}&region=${encodeURIComponent(cell.column)}&model=${encodeURIComponent(cell.model)}` }, "Try this decision with a subject…")));
  return parts;
}

function changesTable(models, columns, first, second) {
  const rows = [];
  for (const m of models) {
    for (const c of columns) {
      const a = first[c].allowed.some((e) => e.model === m);
      const b = second[c].allowed.some((e) => e.model === m);
      if (a !== b) {
        const reasons = (b ? first : second)[c].excluded.find((e) => e.model === m)?.reasons || [];
        rows.push([m, c, a ? "allowed" : "denied", b ? "allowed" : "denied", reasons.map((r) => r.code).join(", ")]);
      }
    }
  }
  return h("section", { class: "card" }, h("h3", {}, `Cells that change between the two dates (${rows.length})`),
    rows.length ? table(["model", "region / scope", "before", "after", "reason codes (denied side)"], rows) : h("p", {}, "None."));
}

async function transitions(tenant, q) {
  const until = localInputToRfc3339(q.get("compare")) || new Date(Date.now() + 365 * 86400e3).toISOString().slice(0, 19) + "Z";
  try {
    const c = await api(`/v1/tenants/${encodeURIComponent(tenant)}/routes/changes`, { query: { until } });
    // Each "when" is a button: compare the matrix now with the moment that change takes effect.
    const compareAt = (at) => go("matrix", [], { ...Object.fromEntries(q), compare: at.slice(0, 19) });
    const rows = c.transitions.map((t) => [
      h("button", { type: "button", onclick: () => compareAt(t.at), "aria-label": `Compare with ${t.at}` }, t.at),
      t.model, t.region, `${t.allow_before ? "allowed" : "denied"} → ${t.allow ? "allowed" : "denied"}`, t.reasons.map((r) => r.code).join(", ")]);
    return h("section", { class: "card" }, h("h3", {}, `Scheduled changes until ${c.until}`),
      h("p", { class: "help" }, "When answers change by themselves: release windows opening, restrictions taking force. Choose a time to compare the matrix with it."),
      rows.length ? table(["when", "model", "region / scope", "change", "reasons"], rows) : h("p", {}, "No scheduled changes."),
      c.truncated ? h("p", { class: "notice" }, "The list was truncated.") : null);
  } catch (err) {
    return errorBox(err, "Scheduled changes");
  }
}

