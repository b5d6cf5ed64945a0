// Shared widgets: error boxes, sources, progress, downloads, generic value rendering.

import { h } from "./dom.js";

/** Announce a short message to screen readers and show it in the status bar. */
export function announce(text) {
  const el = document.getElementById("status");
  if (el) el.textContent = text;
}

export function errorBox(err, what = "") {
  const box = h("div", { class: "error", role: "alert" },
    h("strong", {}, what ? `${what}: ` : "", err.code ? `${err.code} ` : ""),
    h("span", {}, err.message || String(err)));
  if (err.status === 401) box.append(h("p", {}, "Your token is missing, expired or not accepted. Sign in again."));
  if (err.status === 403) box.append(h("p", {}, "Your token does not hold a role allowed to do this."));
  if (err.status === 404 && err.code === "NOT_FOUND" && !err.details) {
    box.append(h("p", { class: "help" }, "This broker may not offer that API yet."));
  }
  if (err.details !== undefined && err.details !== null) {
    box.append(h("details", {}, h("summary", {}, "Details"), jsonBlock(err.details)));
  }
  return box;
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

/** Pretty JSON; BigInt values (nanosecond times) are printed as exact JSON numbers. */
export function jsonBlock(value) {
  return h("pre", { class: "json" }, toJson(value));
}

export function toJson(value) {
  const text = JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `\u0000big:${v}` : v), 2);
  return text.replace(/"\\u0000big:(-?\d+)"/g, "$1");
}

export function isSource(v) {
  return v && typeof v === "object" && typeof v.ref === "string" && typeof v.confidence === "string";
}

/** A fact's provenance: confidence pill + citation (+ "as of" date). */
export function sourceBadge(source) {
  if (!isSource(source)) return h("span", { class: "source missing" }, "no source");
  return h("span", { class: "source" },
    h("span", { class: `conf conf-${source.confidence}`, title: confidenceHelp(source.confidence) },
      source.confidence),
    " ", h("cite", {}, source.ref),
    source.as_of ? h("span", { class: "asof" }, ` (as of ${source.as_of})`) : null);
}

function confidenceHelp(c) {
  return {
    confirmed: "primary/official source, or two independent professional sources",
    secondary: "news, blogs or law-firm summaries that agree",
    unconfirmed: "a single weak source: verify before relying on it",
  }[c] || c;
}

/**
 * Render any registry value as nested definition lists; source objects become badges, so
 * every sourced fact shows where it comes from and how sure we are, whatever its kind.
 */
export function renderValue(value, depth = 0) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
  if (isSource(value)) return sourceBadge(value);
  if (Array.isArray(value)) {
    if (!value.length) return h("span", { class: "muted" }, "none");
    if (value.every((v) => typeof v !== "object" || v === null)) return h("span", {}, value.join(", "));
    return h("ol", { class: "values" }, value.map((v) => h("li", {}, renderValue(v, depth + 1))));
  }
  if (typeof value === "object") {
    // {value, source} pairs (sourced flags) read best inline.
    const keys = Object.keys(value);
    if (keys.length === 2 && "value" in value && isSource(value.source)) {
      return h("span", {}, String(value.value), " ", sourceBadge(value.source));
    }
    return h("dl", { class: depth ? "kv nested" : "kv" },
      keys.map((k) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, renderValue(value[k], depth + 1))]));
  }
  if (typeof value === "boolean") return h("span", { class: value ? "yes" : "no" }, value ? "yes" : "no");
  return h("span", {}, String(value));
}

/** A labelled <progress> for long operations; set(fraction|null, text). */
export function progress(label) {
  const bar = h("progress", { max: "1", "aria-label": label });
  const text = h("span", { class: "progress-text", "aria-live": "polite" }, "starting…");
  const el = h("div", { class: "progress" }, h("span", {}, label, " "), bar, " ", text);
  return {
    el,
    set(fraction, note = "") {
      if (fraction === null || fraction === undefined) bar.removeAttribute("value");
      else bar.value = Math.max(0, Math.min(1, fraction));
      text.textContent = note || (fraction !== null && fraction !== undefined ? `${Math.round(fraction * 100)}%` : "");
    },
  };
}

/** Save bytes/text as a file without leaving the page (a blob: link, allowed by our CSP). */
export function download(filename, data, type = "application/octet-stream") {
  const blob = data instanceof Blob ? data : new Blob([data], { type });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, class: "hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function table(columns, rows, caption) {
  return h("table", { class: "data" },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((cell) => h("td", {}, cell))))));
}

export function reasonList(reasons) {
  if (!reasons || !reasons.length) return h("p", { class: "muted" }, "No reasons: nothing denies this.");
  return h("ul", { class: "reasons" }, reasons.map((r) => h("li", {},
    h("code", { class: "code" }, r.code), " ", h("span", {}, r.message),
    r.facts && Object.keys(r.facts).length
      ? h("details", {}, h("summary", {}, "Facts behind it"), renderValue(r.facts, 1))
      : null)));
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** ISO date-time in UTC for an <input type="datetime-local"> value (interpreted as UTC). */
export function localInputToRfc3339(value) {
  if (!value) return null;
  return `${value.length === 16 ? `${value}:00` : value}Z`;
}

/**
 * Re-indent JSON text without parsing it, so 64-bit integers (nanosecond times) keep every digit
 * (JSON.parse would round them to the nearest double).
 */
export function prettyJsonText(text) {
  let out = "";
  let depth = 0;
  let inString = false;
  let escaped = false;
  const pad = () => `\n${"  ".repeat(depth)}`;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') { inString = true; out += c; continue; }
    if (c === " " || c === "\n" || c === "\t" || c === "\r") continue;
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      if (text[i + 1] === close) { out += c + close; i += 1; continue; }
      depth += 1;
      out += c + pad();
    } else if (c === "}" || c === "]") {
      depth -= 1;
      out += pad() + c;
    } else if (c === ",") {
      out += c + pad();
    } else if (c === ":") {
      out += ": ";
    } else {
      out += c;
    }
  }
  return out;
}
