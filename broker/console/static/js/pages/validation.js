// Validation report view: compile diagnostics, strict findings, unit tests with coverage and the
// decision-contract check. Every located problem is a button that opens file:line in the editor.

import { h } from "../lib/dom.js";
import { renderValue } from "../lib/ui.js";

export function validationView(report, openAt) {
  if (!report) return h("p", { class: "muted" }, "Not validated yet.");
  const loc = (d) => {
    const where = `${d.file || "?"}:${d.line || 0}${d.column ? `:${d.column}` : ""}`;
    return d.file ? h("button", { type: "button", class: "loc", onclick: () => openAt(d.file, d.line || 1), "aria-label": `Open ${where}` }, where) : h("code", {}, where);
  };
  const section = (title, part, body) => h("section", { class: "vsection" },
    h("h4", {}, badge(part), " ", title), body);
  const compile = report.compile || {};
  const strict = report.strict || {};
  const tests = report.tests || {};
  const contract = report.contract || {};
  return h("div", { "data-testid": "validation" },
    h("p", { class: report.ok ? "ok-box" : "error", role: report.ok ? null : "alert" },
      report.ok ? "✔ Valid: compiles, passes strict checks, its tests and the decision contract." : "✘ Not valid: fix the problems below before proposing."),
    section("Compile", compile, compile.skipped ? h("p", { class: "muted" }, compile.skipped)
      : list(compile.diagnostics, (d) => [loc(d), " ", d.message])),
    section("Strict checks", strict, list(strict.findings, (f) => [loc(f), " ", f.message, f.check ? h("span", { class: "muted" }, ` [${f.check}]`) : ""])),
    section(`Unit tests${tests.passed !== undefined ? ` (${tests.passed} passed, ${tests.failed} failed, ${tests.errors} errors)` : ""}`, tests,
      tests.skipped ? h("p", { class: "muted" }, tests.skipped) : [
        (tests.problems || []).map((p) => h("p", { class: "error" }, p)),
        testTable(tests.results || [], openAt),
        coverage(tests.coverage || {}, openAt)]),
    section("Decision contract", contract, contract.skipped ? h("p", { class: "muted" }, contract.skipped)
      : list((contract.cases || []).filter((c) => !c.ok), (c) => [h("code", {}, JSON.stringify(c.input || c.name || "")), " ", (c.problems || []).join("; ")], "Every canonical input yields a well-formed decision with known reason codes.")));
}

function badge(part) {
  if (part.skipped) return h("span", { class: "badge" }, "skipped");
  return h("span", { class: `badge ${part.ok ? "allow" : "deny"}` }, part.ok ? "ok" : "failed");
}

function list(items, render, empty = "No problems.") {
  if (!items || !items.length) return h("p", { class: "muted" }, empty);
  return h("ul", { class: "findings" }, items.map((x) => h("li", {}, render(x))));
}

function testTable(results, openAt) {
  if (!results.length) return null;
  const failing = results.filter((r) => r.outcome !== "pass");
  const rows = (failing.length ? failing : results).map((r) => h("tr", { class: r.outcome === "pass" ? "" : "diff-removed" },
    h("td", {}, h("span", { class: `badge ${r.outcome === "pass" ? "allow" : "deny"}` }, r.outcome)),
    h("td", {}, `${r.package}.${r.name}`),
    h("td", {}, r.file ? h("button", { type: "button", class: "loc", onclick: () => openAt(r.file, r.line || 1) }, r.file) : ""),
    h("td", {}, r.message || "")));
  return h("details", { open: failing.length ? true : null },
    h("summary", {}, failing.length ? `${failing.length} failing tests` : `All ${results.length} tests pass`),
    h("table", { class: "data" }, h("thead", {}, h("tr", {}, ["outcome", "test", "file", "message"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)));
}

function coverage(cov, openAt) {
  const files = Object.entries(cov);
  if (!files.length) return null;
  return h("details", {}, h("summary", {}, "Coverage per file"),
    h("table", { class: "data" }, h("thead", {}, h("tr", {}, ["file", "covered", "lines not covered"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, files.map(([f, c]) => h("tr", {},
        h("td", {}, h("button", { type: "button", class: "loc", onclick: () => openAt(f, (c.not_covered || [])[0] || 1) }, f)),
        h("td", {}, `${c.percent}%`),
        h("td", {}, renderValue(compress(c.not_covered || []))))))));
}

/** [3,4,5,9] -> "3-5, 9" */
function compress(lines) {
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] === lines[j] + 1) j++;
    out.push(i === j ? `${lines[i]}` : `${lines[i]}-${lines[j]}`);
    i = j;
  }
  return out.join(", ") || "none";
}
