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

// (signed-in subject, version id) -> the impact report this person saw here (what an approval
// cites). Keyed by subject so a report one person opened never enables another's approval.
const shown = new Map();
const impactShown = {
  get: (id) => shown.get(`${subject()}\u0000${id}`),
  has: (id) => shown.has(`${subject()}\u0000${id}`),
  set: (id, report) => shown.set(`${subject()}\u0000${id}`, report),
};

export async function render(root, route) {
  const stateFilter = route.query.get("state") || "";
  const listBox = h("div", {}, loading());
  const detail = h("div", {});
  const filter = select("state", STATES.map((s) => [s, s || "all states"]), stateFilter);
  filter.addEventListener("change", () => go("policies", route.rest, { state: filter.value }));
  replace(root, h("h2", {}, "Policies"),
    h("p", { class: "help" }, "A change goes draft → proposed (validated) → approved by a different person → active. " +
      "The approver reviews the impact analysis (exactly which decisions flip) and the approval records it. Rollback re-activates the previous version."),
    h("div", { class: "split" }, h("div", {}, field("Show", filter).wrap, listBox), detail));

  let list;
  try {
    list = await lifecycle.versions(stateFilter ? { state: stateFilter } : {});
  } catch (err) {
    replace(listBox, errorBox(err, "Versions"));
    return;
  }
  const versions = list.versions;
  const selectedId = route.rest[0] || list.active || versions[0]?.id;
  replace(listBox, h("ul", { class: "list", "aria-label": "Policy versions" }, versions.map((v) => h("li", {},
    h("button", { type: "button", "aria-current": String(v.id === selectedId), onclick: () => go("policies", [v.id], { state: stateFilter }) },
      h("span", { class: `badge state-${v.state}` }, v.state), " ", h("code", {}, v.id.slice(0, 12)), " ", v.message || "",
      h("span", { class: "sub" }, `${v.author} · ${(v.created_at || "").slice(0, 16).replace("T", " ")}`))))),
    hasRole("officer") && list.active ? h("div", { class: "toolbar" }, rollbackButton()) : null,
    hasRole("officer") ? uploadForm(list.active) : null);
  if (selectedId) await renderVersion(detail, selectedId, route);
  else replace(detail, h("p", {}, "No policy versions yet. Push one with: tollgate policy push DIR"));
}

/** Push a policy folder (Rego modules, tests, data.json) picked from disk as a new draft. */
function uploadForm(parent) {
  const input = h("input", { type: "file", name: "policy-folder", webkitdirectory: true, multiple: true });
  const message = h("input", { name: "upload-message", placeholder: "what this version is" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card" }, h("h3", {}, "New version from files"),
    field("Policy folder", input, "Pick the folder holding the package tree (e.g. rego/ with tollgate/routing/*.rego). Only *.rego and data.json are read.").wrap,
    field("Message", message).wrap, h("button", { type: "submit" }, "Upload as draft"), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const files = {};
    for (const f of input.files) {
      // Drop the picked folder's own name: paths are relative to it, like `tollgate policy push DIR`.
      const rel = (f.webkitRelativePath || f.name).split("/").slice(f.webkitRelativePath ? 1 : 0).join("/");
      if (rel.endsWith(".rego") || rel.endsWith("data.json")) files[rel] = await f.text();
    }
    if (!Object.keys(files).length) {
      replace(out, h("p", { class: "error", role: "alert" }, "No .rego or data.json files in that folder."));
      return;
    }
    replace(out, loading(`Pushing ${Object.keys(files).length} files and validating…`));
    try {
      const saved = await lifecycle.push(files, message.value || "uploaded from the console", parent || undefined);
      go("policies", [saved.id]);
    } catch (err) {
      replace(out, errorBox(err, "Upload"));
    }
  });
  return form;
}

function rollbackButton() {
  const out = h("div");
  const btn = h("button", { type: "button", class: "danger" }, "Roll back to the previous active version");
  btn.addEventListener("click", async () => {
    const reason = prompt("Why roll back? (recorded in the audit log)");
    if (reason === null) return;
    try {
      const restored = await lifecycle.rollback(reason || "rollback from the console");
      announce(`Rolled back to ${restored.id.slice(0, 12)}.`);
      go("policies", [restored.id]);
    } catch (err) {
      replace(out, errorBox(err, "Rollback"));
    }
  });
  return [btn, out];
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
  const paths = Object.keys(files).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const wanted = route.query.get("file");
  const currentFile = paths.includes(wanted) ? wanted : paths.find((p) => p.endsWith("main.rego")) || paths.find((p) => !p.endsWith("_test.rego")) || paths[0];
  const edits = new Map();
  const canEdit = hasRole("officer");
  const editorBox = h("div");
  const fileSel = select("file", paths, currentFile);
  const dirty = h("span", { class: "notice", hidden: true }, "Unsaved edits");
  function openFile(path, line) {
    if (!(path in files)) return;
    fileSel.value = path;
    const editor = regoEditor({
      label: `Policy module ${path}${canEdit ? " (editable)" : " (read only)"}`, value: edits.get(path) ?? files[path],
      readOnly: !canEdit, onInput: (text) => { edits.set(path, text); dirty.hidden = false; },
    });
    editor.mark(linesWithProblems(v.validation, path));
    replace(editorBox, editor.el);
    if (line) editor.focusLine(line);
  }
  fileSel.addEventListener("change", () => openFile(fileSel.value));
  const message = h("input", { name: "message", placeholder: "what changes and why", size: "50" });
  const saveOut = h("div", { "aria-live": "polite" });
  const save = h("form", { class: "toolbar" }, field("Change message", message, "Recorded with the new draft version.").wrap,
    h("button", { type: "submit", class: "primary" }, "Save as new draft"), dirty);
  save.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const all = Object.fromEntries(paths.map((p) => [p, edits.get(p) ?? files[p]]));
    replace(saveOut, loading("Pushing and validating (compile, strict checks, unit tests, contract)…"));
    try {
      const saved = await lifecycle.push(all, message.value || "edited in the console", v.id);
      announce(`Saved draft ${saved.id.slice(0, 12)}`);
      go("policies", [saved.id], { file: fileSel.value });
    } catch (err) {
      replace(saveOut, errorBox(err, "Save"));
    }
  });

  const impactBox = h("section", { class: "card", "aria-labelledby": "impact-title" });
  const actionBox = h("div");
  replace(box,
    h("section", { class: "card" },
      h("h3", {}, "Version ", h("code", { "data-testid": "version-id", title: v.id }, v.id.slice(0, 12)), " ",
        h("span", { class: `badge state-${v.state}`, "data-testid": "version-state" }, v.state)),
      h("p", {}, v.message || ""),
      meta(v),
      actionBox,
      h("details", {}, h("summary", {}, "History of this version"), h("div", { class: "events" }, loading())),
      v.parent ? h("details", { class: "parent-diff" }, h("summary", {}, `Changes against its parent ${v.parent.slice(0, 12)}`), h("div", {}, loading())) : null),
    h("section", { class: "card", "aria-labelledby": "files-title" },
      h("h3", { id: "files-title" }, "Modules"),
      h("div", { class: "row" }, field("File", fileSel, canEdit ? "Edit, then save as a new draft; a stored version never changes." : "Read only for your role.").wrap),
      editorBox, canEdit ? [save, saveOut] : null),
    h("section", { class: "card", "aria-labelledby": "val-title" },
      h("h3", { id: "val-title" }, "Validation"),
      validationView(v.validation, (file, line) => openFile(file, line))),
    impactBox);
  openFile(currentFile);
  // After a step, redraw the whole page: the version list shows states too (e.g. superseded).
  const rerender = () => go("policies", [v.id], { state: route.query.get("state") || "", file: fileSel.value });
  replace(actionBox, actions(v, rerender));
  renderImpact(impactBox, v, () => replace(actionBox, actions(v, rerender)));
  loadEvents(box.querySelector(".events"), v.id);
  const parentDiff = box.querySelector(".parent-diff > div");
  if (parentDiff) loadParentDiff(parentDiff, v);
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
  const at = (who, when) => (who ? `${who}${when ? ` at ${when}` : ""}` : "—");
  const rows = [
    ["author", at(v.author, v.created_at)],
    ["parent", v.parent ? v.parent.slice(0, 12) : "—"],
    ["proposed by", at(v.proposed_by, v.proposed_at)],
    ["decided by", at(v.decided_by, v.decided_at)],
    ["full id", v.id],
  ];
  if (v.source?.kind) rows.push(["source", Object.entries(v.source).map(([k, x]) => `${k}: ${x}`).join(", ")]);
  if (v.approval) rows.push(["approved with impact", `report ${String(v.approval.report_id || "").slice(0, 12)}: ${v.approval.changed ?? "?"} changed decisions, ${v.approval.tenants_affected ?? "?"} tenants`]);
  return h("dl", { class: "kv" }, rows.map(([k, val]) => [h("dt", {}, k), h("dd", {}, val)]));
}

function actions(v, rerender) {
  const out = h("div", { "aria-live": "polite" });
  const me = subject();
  const bar = h("div", { class: "toolbar", role: "group", "aria-label": "Lifecycle actions" });
  const run = (label, fn, primary = false) => {
    const btn = h("button", { type: "button", class: primary ? "primary" : null }, label);
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      replace(out, loading(`${label}…`));
      try {
        await fn();
        announce(`${label}: done`);
        await rerender();
      } catch (err) {
        btn.disabled = false;
        replace(out, errorBox(err, label));
      }
    });
    return btn;
  };
  const officer = hasRole("officer");
  const approver = hasRole("approver");
  if (officer && v.state === "draft") {
    const propose = run("Propose", () => lifecycle.propose(v.id), true);
    if (v.validation_ok === false) propose.title = "validation failed: the broker will refuse until it passes";
    bar.append(propose);
  }
  if (approver && v.state === "proposed") {
    // Maker-checker: whoever wrote or proposed the version may not decide on it.
    const self = v.proposed_by === me || v.author === me;
    const report = impactShown.get(v.id);
    const approve = run("Approve", () => lifecycle.approve(v.id, impactShown.get(v.id)?.id), true);
    const reject = run("Reject", () => lifecycle.reject(v.id, prompt("Why reject? (recorded)") || "rejected in the console"));
    const note = h("span", { class: "help", "data-testid": "approve-help" });
    if (self) {
      approve.disabled = true;
      reject.disabled = true;
      note.textContent = "You wrote or proposed this version: a different approver must decide.";
    } else if (!report) {
      approve.disabled = true;
      note.textContent = "Open the impact report below first: your approval records the report you reviewed.";
    } else {
      note.textContent = `Approving records impact report ${report.id.slice(0, 12)} (${report.summary?.changed ?? "?"} changed decisions).`;
    }
    bar.append(approve, reject, note);
  }
  if (officer && (v.state === "approved" || v.state === "superseded")) {
    bar.append(run(v.state === "superseded" ? "Re-activate now" : "Activate now", () => lifecycle.activate(v.id), true));
  }
  if (officer && v.state === "approved") {
    const when = h("input", { type: "datetime-local", name: "effective_at", step: "1" });
    const sched = h("form", { class: "row" }, field("Activate at (UTC)", when, "e.g. the day a rule takes force.").wrap, h("button", { type: "submit" }, "Schedule"));
    sched.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const res = await lifecycle.schedule(v.id, localInputToRfc3339(when.value));
        replace(out, h("p", { class: "ok-box" }, `Scheduled for ${res.scheduled.effective_at}.`));
        showSchedules(schedBox, v);
      } catch (err) {
        replace(out, errorBox(err, "Schedule"));
      }
    });
    bar.append(sched);
  }
  if (officer && ["draft", "proposed", "approved"].includes(v.state)) {
    bar.append(run("Withdraw", () => lifecycle.withdraw(v.id, "withdrawn in the console")));
  }
  if (!bar.childElementCount) bar.append(h("span", { class: "muted" }, `No step available to your roles in state ${v.state}.`));
  const schedBox = h("div");
  showSchedules(schedBox, v);
  return [bar, out, schedBox];
}

async function showSchedules(box, v) {
  try {
    const pending = (await lifecycle.schedules()).filter((s) => s.version_id === v.id && s.status === "pending");
    replace(box, pending.map((s) => h("p", { class: "notice" }, `Scheduled to activate at ${s.effective_at} (by ${s.created_by}). `,
      hasRole("officer") ? h("button", { type: "button", onclick: async () => { await lifecycle.cancelSchedule(s.id); showSchedules(box, v); } }, "Cancel") : null)));
  } catch {
    replace(box);
  }
}

async function loadEvents(el, id) {
  try {
    const events = await lifecycle.events(id);
    replace(el, h("ol", {}, events.map((e) => h("li", {}, `${e.at} · ${e.actor} · ${e.action}`,
      e.details?.to_state ? ` → ${e.details.to_state}` : "", e.audit_index !== null && e.audit_index !== undefined ? ` (audit log #${e.audit_index})` : ""))));
  } catch (err) {
    replace(el, errorBox(err, "History"));
  }
}

async function loadParentDiff(el, v) {
  try {
    const d = await lifecycle.diff(v.parent, v.id);
    replace(el, d.files.length ? d.files.map((f) => [h("h4", {}, `${f.path} (${f.change})`), diffBlock(f.diff)]) : h("p", {}, "Same files as the parent."));
  } catch (err) {
    replace(el, errorBox(err, "Diff"));
  }
}

function diffBlock(text) {
  return h("pre", { class: "code" }, text.split("\n").map((line) => h("div", {
    class: line.startsWith("+") && !line.startsWith("+++") ? "diff-added" : line.startsWith("-") && !line.startsWith("---") ? "diff-removed" : null,
  }, line || "\u200b")));
}

function renderImpact(box, v, onShown) {
  const out = h("div");
  const show = (report) => {
    impactShown.set(v.id, report);
    replace(out, impactView(report, () => lifecycle.impactCsv(report.id)));
    onShown();
  };
  const btn = h("button", { type: "button", class: "primary" }, "Analyse impact");
  const replayDays = h("input", { type: "number", name: "replay_days", min: "0", max: "90", value: "7" });
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    const bar = progress("Impact analysis");
    replace(out, bar.el);
    try {
      show(await runImpact(v.id, { replay_days: Number(replayDays.value) || 0 }, bar));
    } catch (err) {
      replace(out, errorBox(err, "Impact analysis"));
    } finally {
      btn.disabled = false;
    }
  });
  const latest = h("button", { type: "button" }, "Open the latest report");
  latest.addEventListener("click", async () => {
    replace(out, loading("Loading the latest impact report…"));
    try {
      const reportId = await lifecycle.latestImpactId(v.id);
      if (!reportId) {
        replace(out, h("p", {}, "No impact analysis has been run for this version yet. An officer can run one."));
        return;
      }
      show(await lifecycle.impact(reportId));
    } catch (err) {
      replace(out, errorBox(err, "Impact report"));
    }
  });
  const controls = hasRole("officer")
    ? h("div", { class: "row" }, field("Replay logged decisions of the last N days", replayDays).wrap, btn, latest)
    : h("div", { class: "toolbar" }, latest);
  replace(box, h("h3", { id: "impact-title" }, "Impact: which decisions change"),
    h("p", { class: "help" }, "Compares this version with the active one over the whole routing matrix (now and every upcoming release-window edge) and, optionally, by replaying logged decisions."),
    v.state === "active" ? h("p", { class: "muted" }, "This is the active version.") : controls,
    out);
}

async function runImpact(id, body, bar) {
  const job = await lifecycle.startImpact(id, body);
  for (let current = job; ; current = await lifecycle.job(id, job.id)) {
    const p = current.progress || {};
    bar.set(p.total ? p.done / p.total : null, `${p.phase || current.status}: ${p.done ?? 0}${p.total ? ` of ${p.total}` : ""}`);
    if (current.status === "done") {
      bar.set(1, "done");
      return lifecycle.impact(current.report_id);
    }
    if (current.status === "failed") {
      const e = current.error || {};
      throw Object.assign(new Error(e.message || "the analysis failed"), { code: e.code || "IMPACT_FAILED", details: e.details });
    }
    await sleep(300);
  }
}
