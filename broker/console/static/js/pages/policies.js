// Policies page: versions and their states, the module viewer/editor, validation with file:line
// locations, the impact diff, and the maker-checker steps. Buttons follow the caller's roles and
// the version's state; the server enforces both again (self-approval is refused there too).

import { go } from "../main.js";
import { hasRole, subject } from "../lib/auth.js";
import { field, h, replace, select } from "../lib/dom.js";
import { announce, errorBox, loading, localInputToRfc3339, progress, sleep } from "../lib/ui.js";
import { regoEditor } from "./editor.js";
import { impactView } from "./impact.js";
import { lifecycle } from "./lifecycle.js";
import { validationView } from "./validation.js";

const STATES = ["", "draft", "proposed", "approved", "active", "superseded", "rejected", "withdrawn"];

export async function render(root, route) {
  const stateFilter = route.query.get("state") || "";
  const listBox = h("div", {}, loading());
  const detail = h("div", {});
  const filter = select("state", STATES.map((s) => [s, s || "all states"]), stateFilter);
  filter.addEventListener("change", () => go("policies", route.rest, { state: filter.value }));
  replace(root, h("h2", {}, "Policies"),
    h("p", { class: "help" }, "A change goes draft → proposed (validated) → approved by a different person → active. " +
      "Before approving, run the impact analysis to see exactly which decisions flip. Rollback re-activates the previous version."),
    h("div", { class: "split" }, h("div", {}, field("Show", filter).wrap, listBox), detail));

  let versions = [];
  try {
    const res = await lifecycle.versions(stateFilter ? { state: stateFilter } : {});
    versions = res.items || res;
  } catch (err) {
    replace(listBox, errorBox(err, "Versions"));
    return;
  }
  const active = versions.find((v) => v.state === "active");
  const selectedId = route.rest[0] || active?.id || versions[0]?.id;
  replace(listBox, h("ul", { class: "list", "aria-label": "Policy versions" }, versions.map((v) => h("li", {},
    h("button", { type: "button", "aria-current": String(v.id === selectedId), onclick: () => go("policies", [v.id], { state: stateFilter }) },
      h("span", { class: `badge state-${v.state}` }, v.state), " ", h("code", {}, v.id.slice(0, 12)), " ", v.message || "",
      h("span", { class: "sub" }, `${v.author} · ${(v.created_at || "").slice(0, 16).replace("T", " ")}`))))),
    hasRole("officer") && active ? h("div", { class: "toolbar" }, rollbackButton()) : null);
  if (selectedId) await renderVersion(detail, selectedId, route);
  else replace(detail, h("p", {}, "No policy versions yet. Push one with: tollgate policy push DIR"));
}

function rollbackButton() {
  const btn = h("button", { type: "button", class: "danger" }, "Roll back to the previous active version");
  btn.addEventListener("click", async () => {
    const reason = prompt("Why roll back? (recorded in the audit log)");
    if (reason === null) return;
    try {
      const res = await lifecycle.rollback(reason || "rollback from the console");
      announce("Rolled back.");
      go("policies", [res.id || res.version_id || res.active || ""].filter(Boolean));
    } catch (err) {
      btn.after(errorBox(err, "Rollback"));
    }
  });
  return btn;
}

async function renderVersion(box, id, route) {
  replace(box, loading("Loading version…"));
  let v;
  let files;
  try {
    [v, files] = await Promise.all([lifecycle.version(id), lifecycle.files(id)]);
  } catch (err) {
    replace(box, errorBox(err, `Version ${id.slice(0, 12)}`));
    return;
  }
  files = files.files || files;
  const paths = Object.keys(files).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const currentFile = paths.includes(route.query.get("file")) ? route.query.get("file") : paths.find((p) => !p.endsWith("_test.rego")) || paths[0];
  const edits = new Map();
  const canEdit = hasRole("officer");
  let editor;
  const editorBox = h("div");
  const fileSel = select("file", paths, currentFile);
  function openFile(path, line) {
    if (!files[path] && !edits.has(path)) return;
    fileSel.value = path;
    editor = regoEditor({
      label: `Policy module ${path}${canEdit ? " (editable)" : " (read only)"}`, value: edits.get(path) ?? files[path],
      readOnly: !canEdit || path.endsWith(".json") && false, onInput: (text) => { edits.set(path, text); dirty.hidden = false; },
    });
    editor.mark(linesWithProblems(v.validation, path));
    replace(editorBox, editor.el);
    if (line) editor.focusLine(line);
  }
  fileSel.addEventListener("change", () => openFile(fileSel.value));
  const dirty = h("span", { class: "notice", hidden: true }, "Unsaved edits");
  const message = h("input", { name: "message", placeholder: "what changes and why", size: "50" });
  const saveOut = h("div");
  const save = h("form", { class: "toolbar" }, field("Change message", message, "Recorded with the new draft version.").wrap,
    h("button", { type: "submit", class: "primary" }, "Save as new draft"), dirty);
  save.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const all = Object.fromEntries(paths.map((p) => [p, edits.get(p) ?? files[p]]));
    replace(saveOut, loading("Pushing and validating…"));
    try {
      const res = await lifecycle.push(all, message.value || "edited in the console", v.id);
      const newId = res.id || res.version_id || res.version?.id;
      announce(`Saved draft ${newId.slice(0, 12)}`);
      go("policies", [newId]);
    } catch (err) {
      replace(saveOut, errorBox(err, "Save"));
    }
  });

  const impactBox = h("section", { class: "card", "aria-labelledby": "impact-title" });
  replace(box,
    h("section", { class: "card" },
      h("h3", {}, "Version ", h("code", { "data-testid": "version-id" }, v.id.slice(0, 12)), " ",
        h("span", { class: `badge state-${v.state}`, "data-testid": "version-state" }, v.state)),
      h("p", {}, v.message || ""),
      meta(v),
      actions(v, box, route),
      h("details", {}, h("summary", {}, "History of this version"), h("div", { class: "events" }, loading())),
    ),
    h("section", { class: "card", "aria-labelledby": "files-title" },
      h("h3", { id: "files-title" }, "Modules"),
      h("div", { class: "row" }, field("File", fileSel, canEdit ? "Edit, then save as a new draft; the original version never changes." : "Read only for your role.").wrap),
      editorBox, canEdit ? [save, saveOut] : null),
    h("section", { class: "card", "aria-labelledby": "val-title" },
      h("h3", { id: "val-title" }, "Validation"),
      validationView(v.validation, (file, line) => openFile(file, line))),
    impactBox);
  openFile(currentFile);
  renderImpact(impactBox, v);
  loadEvents(box.querySelector(".events"), v.id);
}

function rank(path) {
  return path.endsWith("_test.rego") ? 1 : path.endsWith(".rego") ? 0 : 2;
}

function linesWithProblems(report, path) {
  const marks = new Map();
  if (!report) return marks;
  for (const d of report.compile?.diagnostics || []) if (d.file === path) marks.set(d.line, d.message);
  for (const f of report.strict?.findings || []) if (f.file === path) marks.set(f.line, f.message);
  return marks;
}

function meta(v) {
  const rows = [
    ["author", `${v.author} at ${v.created_at}`],
    ["parent", v.parent ? v.parent.slice(0, 12) : "—"],
    ["proposed by", v.proposed_by ? `${v.proposed_by}${v.proposed_at ? ` at ${v.proposed_at}` : ""}` : "—"],
    ["decided by", v.decided_by ? `${v.decided_by}${v.decided_at ? ` at ${v.decided_at}` : ""}` : "—"],
    ["full id", v.id],
  ];
  if (v.approval) rows.push(["approved with impact", `${v.approval.changed ?? "?"} changed decisions (report ${String(v.approval.report_id || "").slice(0, 12)})`]);
  return h("dl", { class: "kv" }, rows.map(([k, val]) => [h("dt", {}, k), h("dd", {}, val)]));
}

function actions(v, box, route) {
  const out = h("div", { "aria-live": "polite" });
  const me = subject();
  const bar = h("div", { class: "toolbar", role: "group", "aria-label": "Lifecycle actions" });
  const run = (label, fn) => h("button", { type: "button", class: label === "Approve" || label === "Activate now" ? "primary" : "" , onclick: async (ev) => {
    ev.target.disabled = true;
    replace(out, loading(`${label}…`));
    try {
      await fn();
      announce(`${label}: done`);
      await renderVersion(box, v.id, route);
      go("policies", [v.id]);
    } catch (err) {
      ev.target.disabled = false;
      replace(out, errorBox(err, label));
    }
  } }, label);
  const officer = hasRole("officer");
  const approver = hasRole("approver");
  if (officer && v.state === "draft") {
    bar.append(run("Propose", () => lifecycle.action(v.id, "propose")));
    if (v.validation_ok === false) bar.lastChild.title = "validation failed: the server will refuse";
  }
  if (approver && v.state === "proposed") {
    const self = v.proposed_by === me;
    const approve = run("Approve", () => lifecycle.action(v.id, "approve"));
    const reject = run("Reject", () => lifecycle.action(v.id, "reject", { message: prompt("Why reject?") || "" }));
    if (self) {
      approve.disabled = true;
      reject.disabled = true;
      bar.append(approve, reject, h("span", { class: "help" }, "You proposed this version: a different approver must decide."));
    } else {
      bar.append(approve, reject);
    }
  }
  if (officer && (v.state === "approved" || v.state === "superseded")) {
    bar.append(run("Activate now", () => lifecycle.action(v.id, "activate")));
  }
  if (officer && v.state === "approved") {
    const when = h("input", { type: "datetime-local", name: "effective_at", step: "1" });
    const sched = h("form", { class: "row" }, field("Activate at (UTC)", when, "e.g. the day a rule takes force.").wrap, h("button", { type: "submit" }, "Schedule"));
    sched.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await lifecycle.schedule(v.id, localInputToRfc3339(when.value));
        replace(out, h("p", { class: "ok-box" }, `Scheduled for ${localInputToRfc3339(when.value)}.`));
      } catch (err) {
        replace(out, errorBox(err, "Schedule"));
      }
    });
    bar.append(sched);
  }
  if (officer && ["draft", "proposed", "approved"].includes(v.state)) {
    bar.append(run("Withdraw", () => lifecycle.action(v.id, "withdraw")));
  }
  if (!bar.childElementCount) bar.append(h("span", { class: "muted" }, `No step available to your roles in state ${v.state}.`));
  return [bar, out];
}

async function loadEvents(el, id) {
  try {
    const res = await lifecycle.events(id);
    const items = res.items || res;
    replace(el, h("ol", {}, items.map((e) => h("li", {}, `${e.at || e.time || ""} ${e.actor || ""} ${e.action || e.kind || ""} ${e.message || ""}`))));
  } catch (err) {
    replace(el, errorBox(err, "History"));
  }
}

function renderImpact(box, v) {
  const out = h("div");
  const btn = h("button", { type: "button", class: "primary" }, "Analyse impact");
  const replayDays = h("input", { type: "number", name: "replay_days", min: "0", max: "90", value: "7" });
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    const bar = progress("Impact analysis");
    replace(out, bar.el);
    try {
      const report = await runImpact(v.id, { replay_days: Number(replayDays.value) || 0 }, bar);
      replace(out, impactView(report));
    } catch (err) {
      replace(out, errorBox(err, "Impact analysis"));
    } finally {
      btn.disabled = false;
    }
  });
  const canRun = hasRole("officer", "approver");
  replace(box, h("h3", { id: "impact-title" }, "Impact: which decisions change"),
    h("p", { class: "help" }, "Compares this version with the active one over the whole routing matrix (now and every upcoming release-window edge) and, optionally, by replaying logged decisions."),
    canRun ? h("div", { class: "row" }, field("Replay logged decisions of the last N days", replayDays).wrap, btn) : h("p", { class: "muted" }, "Officers and approvers can run the analysis."),
    out);
}

async function runImpact(id, body, bar) {
  const started = await lifecycle.startImpact(id, body);
  if (started.summary) return started; // the server answered synchronously
  const jobId = started.job_id || started.id;
  for (;;) {
    const job = await lifecycle.job(jobId);
    const total = job.total || 0;
    bar.set(total ? job.done / total : null, `${job.phase || job.status}: ${job.done ?? 0}${total ? ` of ${total}` : ""}`);
    if (job.status === "done" || job.status === "succeeded" || job.report) {
      bar.set(1, "done");
      return job.report || lifecycle.impact(job.report_id);
    }
    if (job.status === "failed" || job.error) throw Object.assign(new Error(job.error?.message || job.error || "the analysis failed"), { code: job.error?.code || "IMPACT_FAILED" });
    await sleep(400);
  }
}
