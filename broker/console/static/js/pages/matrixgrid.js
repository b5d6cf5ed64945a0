// The heat map as an ARIA grid: one tab stop (roving tabindex), arrow keys / Home / End move,
// Enter or Space (or a click) selects a cell and shows its details.

import { h } from "../lib/dom.js";

export function grid({ models, columns, first, second, strict, onSelect }) {
  const index = (tables) => {
    const map = new Map();
    for (const c of columns) {
      for (const e of tables[c].allowed) map.set(`${e.model}\u0000${c}`, { entry: e, allow: true });
      for (const e of tables[c].excluded) map.set(`${e.model}\u0000${c}`, { entry: e, allow: false });
    }
    return map;
  };
  const now = index(first);
  const later = second ? index(second) : null;
  const tenant = first[columns[0]].tenant;
  const cells = [];
  const table = h("table", { class: "matrix", role: "grid", "aria-label": `Routing matrix for ${tenant}`, "aria-rowcount": models.length + 1 });
  table.append(h("thead", {}, h("tr", { role: "row" },
    h("th", { role: "columnheader", scope: "col" }, "model \\ region"),
    columns.map((c) => h("th", { role: "columnheader", scope: "col", title: c }, c)))));
  const body = h("tbody");
  models.forEach((m, r) => {
    const row = h("tr", { role: "row" }, h("th", { role: "rowheader", scope: "row", title: m }, m));
    cells.push([]);
    columns.forEach((c, col) => {
      const key = `${m}\u0000${c}`;
      const hit = now.get(key);
      const after = later?.get(key);
      const cell = { model: m, column: c, tenant, entry: hit?.entry, allow: Boolean(hit?.allow), later: after?.entry, laterAllow: Boolean(after?.allow) };
      const kind = cellKind(hit, strict);
      const changed = later && Boolean(hit?.allow) !== Boolean(after?.allow);
      const label = `${m} in ${c}: ${describe(kind)}${changed ? `, becomes ${after?.allow ? "allowed" : "denied"} at the comparison date` : ""}`;
      const td = h("td", {
        role: "gridcell", tabindex: r === 0 && col === 0 ? "0" : "-1", "aria-label": label, "aria-selected": "false",
        class: `cell-${kind}${changed ? " cell-changed" : ""}`, "data-model": m, "data-column": c, "data-state": kind,
      }, kind === "deny" ? "✗" : kind === "none" ? "·" : "✓");
      td.addEventListener("click", () => choose(r, col));
      cells[r].push({ td, cell });
      row.append(td);
    });
    body.append(row);
  });
  table.append(body);
  const counts = {};
  for (const row of cells) for (const x of row) counts[x.td.dataset.state] = (counts[x.td.dataset.state] || 0) + 1;

  let selected = null;
  function focusCell(r, c) {
    const target = cells[r]?.[c];
    if (!target) return;
    for (const row of cells) for (const x of row) x.td.tabIndex = -1;
    target.td.tabIndex = 0;
    target.td.focus();
  }
  function choose(r, c) {
    focusCell(r, c);
    if (selected) selected.setAttribute("aria-selected", "false");
    selected = cells[r][c].td;
    selected.setAttribute("aria-selected", "true");
    onSelect(cells[r][c].cell);
  }
  table.addEventListener("keydown", (ev) => {
    const td = ev.target.closest("td[role=gridcell]");
    if (!td) return;
    const r = cells.findIndex((row) => row.some((x) => x.td === td));
    const c = cells[r].findIndex((x) => x.td === td);
    const moves = {
      ArrowRight: [r, c + 1], ArrowLeft: [r, c - 1], ArrowDown: [r + 1, c], ArrowUp: [r - 1, c],
      Home: [r, 0], End: [r, columns.length - 1], PageDown: [Math.min(r + 10, models.length - 1), c], PageUp: [Math.max(r - 10, 0), c],
    };
    if (ev.key in moves) {
      ev.preventDefault();
      focusCell(...moves[ev.key]);
    } else if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      choose(r, c);
    }
  });
  const summary = h("p", { class: "matrix-counts", "data-testid": "matrix-counts" },
    `${counts.allow || 0} allowed, ${counts.obligation || 0} allowed with obligations, ${counts.deny || 0} denied, ${counts.none || 0} not served.`);
  return h("div", {}, summary, h("div", { class: "matrix-wrap" }, table));
}

function cellKind(hit, strict) {
  if (!hit) return "none";
  if (hit.allow) return hit.entry.obligations?.length ? "obligation" : "allow";
  const onlyNotDeployed = hit.entry.reasons.length > 0 && hit.entry.reasons.every((r) => r.code === "MODEL_NOT_DEPLOYED");
  return onlyNotDeployed && !strict ? "none" : "deny";
}

function describe(kind) {
  return { allow: "allowed", obligation: "allowed with an obligation", deny: "denied", none: "not served there" }[kind];
}
