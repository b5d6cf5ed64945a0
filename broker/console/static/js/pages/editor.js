// Rego module editor: a plain <textarea> (so typing, undo, selection and screen readers all
// work natively) laid over a highlighted <pre> that mirrors it; a gutter numbers lines and
// marks those with validation findings.

import { h, replace } from "../lib/dom.js";
import { lines, tokenize } from "../lib/rego.js";

export function regoEditor({ label, value, readOnly = false, onInput }) {
  const pre = h("pre", { "aria-hidden": "true" });
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const area = h("textarea", {
    spellcheck: "false", autocomplete: "off", wrap: "off", "aria-label": label,
    readonly: readOnly ? true : null, "data-testid": "rego-editor",
  });
  area.value = value;
  let marks = new Map();

  function paint() {
    const rows = lines(tokenize(area.value));
    replace(pre, rows.map((row, i) => h("div", { class: marks.has(i + 1) ? "line err" : "line", title: marks.get(i + 1) || null },
      row.length ? row.map((t) => (t.type === "ident" || t.type === "space" || t.type === "punct" ? t.text : h("span", { class: `tok-${t.type}` }, t.text))) : "\u200b")));
    replace(gutter, rows.map((_, i) => h("div", { class: marks.has(i + 1) ? "err-line" : null }, String(i + 1))));
  }
  // Tab inserts a tab (Rego style) instead of leaving the field; Escape then Tab still leaves,
  // so keyboard users are never trapped.
  let escaped = false;
  area.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { escaped = true; return; }
    if (ev.key === "Tab" && !ev.shiftKey && !escaped && !readOnly) {
      ev.preventDefault();
      area.setRangeText("\t", area.selectionStart, area.selectionEnd, "end");
      area.dispatchEvent(new Event("input"));
    }
    if (ev.key !== "Tab") escaped = false;
  });
  area.addEventListener("input", () => { paint(); onInput?.(area.value); });
  paint();
  const el = h("div", { class: "editor" }, gutter, h("div", { class: "stack" }, pre, area));
  return {
    el,
    get value() { return area.value; },
    /** Mark lines: Map(line number -> message). */
    mark(map) { marks = map; paint(); },
    focusLine(n) {
      const upto = area.value.split("\n").slice(0, n - 1).join("\n").length + (n > 1 ? 1 : 0);
      area.focus();
      area.setSelectionRange(upto, upto);
      const lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 19;
      el.scrollTop = Math.max(0, (n - 5) * lineHeight);
    },
  };
}
