// Console shell: sign-in, navigation filtered by role, and hash routing (#/page/sub?query).
// Pages are ES modules loaded on demand; each exports render(root, route).

import { claims, expired, hasRole, onChange, signIn, signOut, subject, roles } from "./lib/auth.js";
import { field, h, replace } from "./lib/dom.js";
import { announce, errorBox } from "./lib/ui.js";

// Roles mirror what the API accepts, so nobody is shown a page whose calls would all be refused.
export const PAGES = [
  { id: "registry", title: "Registry", roles: ["officer", "admin", "approver", "auditor"] },
  { id: "matrix", title: "Routing matrix", roles: ["officer", "admin", "gateway"] },
  { id: "decide", title: "Try a decision", roles: ["officer", "admin", "gateway"] },
  { id: "policies", title: "Policies", roles: ["officer", "admin", "approver", "auditor"] },
  { id: "audit", title: "Audit", roles: ["auditor", "admin"] },
];

const loaders = {
  registry: () => import("./pages/registry.js"),
  matrix: () => import("./pages/matrix.js"),
  decide: () => import("./pages/decide.js"),
  policies: () => import("./pages/policies.js"),
  audit: () => import("./pages/audit.js"),
};

export function parseRoute(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [page = "", ...rest] = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page, rest, query: new URLSearchParams(query) };
}

export function go(page, rest = [], query = {}) {
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  const path = [page, ...rest].map(encodeURIComponent).join("/");
  const target = `#/${path}${q.toString() ? `?${q}` : ""}`;
  if (location.hash === target) render();
  else location.hash = target;
}

function visiblePages() {
  return PAGES.filter((p) => hasRole(...p.roles));
}

function renderNav(current) {
  const nav = document.getElementById("nav");
  const items = claims() ? visiblePages() : [];
  replace(nav, h("ul", {}, items.map((p) => h("li", {},
    h("a", { href: `#/${p.id}`, "aria-current": p.id === current ? "page" : null }, p.title)))));
}

function renderWho() {
  const who = document.getElementById("who");
  const c = claims();
  if (!c) {
    replace(who, h("a", { href: "#/signin", class: "button" }, "Sign in"));
    return;
  }
  const exp = typeof c.exp === "number" ? new Date(c.exp * 1000) : null;
  replace(who,
    h("span", { class: "subject", title: "the token's subject (sub claim)" }, subject() || "(no subject)"),
    " ", h("span", { class: "roles" }, [...roles()].map((r) => h("span", { class: "role" }, r))),
    exp ? h("span", { class: expired() ? "exp expired" : "exp" }, expired() ? " token expired" : ` until ${exp.toISOString().slice(11, 16)} UTC`) : null,
    " ", h("button", { type: "button", onclick: () => { signOut(); go("signin"); } }, "Sign out"));
}

function signInPage(root, notice) {
  const input = h("textarea", { name: "token", rows: "4", spellcheck: "false", autocomplete: "off", required: true });
  const { wrap } = field("Bearer token (JWT)", input,
    "Paste a token from your identity provider, or for development: tollgate token issue --role officer --subject alice. " +
    "It stays in this browser tab only (sessionStorage) and is sent to the broker, which checks it on every call.");
  const errors = h("div");
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
    h("h2", { id: "signin-title" }, "Sign in"),
    notice ? h("p", { class: "notice" }, notice) : null,
    wrap,
    errors,
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    try {
      signIn(input.value);
    } catch (err) {
      replace(errors, errorBox({ code: "TOKEN_MALFORMED", message: `This is not a JWT: ${err.message}` }));
      return;
    }
    const first = visiblePages()[0];
    announce(`Signed in as ${subject()}`);
    go(first ? first.id : "signin");
  });
  replace(root,
    h("section", { class: "intro" },
      h("p", {}, "Tollgate decides whether a tenant may use an AI model in a region. This console lets compliance " +
        "officers browse the sourced registry, see the routing matrix, try decisions and manage policies, and lets " +
        "auditors verify the signed audit log in the browser.")),
    form);
  input.focus();
}

let renderSeq = 0;

// Pages re-render on every hash change; remember which control had focus (by name or label) and
// give focus back to its new twin, so keyboard users keep their place after a tab or a filter.
function focusKey(el) {
  if (!el || el === document.body || !document.getElementById("view").contains(el)) return null;
  if (el.name) return `${el.tagName}[name="${CSS.escape(el.name)}"]`;
  if (el.tagName === "BUTTON") return { text: el.textContent };
  return null;
}

function restoreFocus(key) {
  if (!key) return;
  const view = document.getElementById("view");
  const el = typeof key === "string" ? view.querySelector(key)
    : [...view.querySelectorAll("button")].find((b) => b.textContent === key.text);
  el?.focus({ preventScroll: true });
}

export async function render() {
  const seq = ++renderSeq;
  const focused = focusKey(document.activeElement);
  const route = parseRoute();
  const view = document.getElementById("view");
  const root = h("div", { class: "page" });
  replace(view, root);
  renderNav(route.page);
  renderWho();
  if (!claims() || route.page === "signin" || !route.page && !claims()) {
    signInPage(root, expired() ? "Your token has expired." : "");
    return;
  }
  const page = PAGES.find((p) => p.id === route.page);
  if (!page) {
    const first = visiblePages()[0];
    if (first) go(first.id);
    else replace(root, h("p", { class: "error", role: "alert" },
      `Your roles (${[...roles()].join(", ") || "none"}) give access to no console page.`));
    return;
  }
  document.title = `${page.title} · Tollgate console`;
  if (!hasRole(...page.roles)) {
    replace(root, h("h2", {}, page.title), h("p", { class: "error", role: "alert" },
      `This page needs one of the roles ${page.roles.join(", ")}.`));
    return;
  }
  try {
    const mod = await loaders[page.id]();
    if (seq !== renderSeq) return;
    await mod.render(root, route);
    if (seq === renderSeq) restoreFocus(focused);
  } catch (err) {
    root.append(errorBox(err, `${page.title} failed`));
  }
}

function start() {
  // Move focus to the content only when the page changes (so screen readers announce it), not
  // when a page rewrites its own query (a tab or filter), which would yank focus from the control.
  let lastPage = parseRoute().page;
  window.addEventListener("hashchange", () => {
    const page = parseRoute().page;
    render();
    if (page !== lastPage) document.getElementById("view").focus({ preventScroll: true });
    lastPage = page;
  });
  // Header and navigation change together, so no one sees the previous principal's pages.
  onChange(() => { renderNav(parseRoute().page); renderWho(); });
  // The skip link must not change the hash (that is the router's); focus the content instead.
  document.querySelector("a.skip").addEventListener("click", (ev) => {
    ev.preventDefault();
    document.getElementById("view").focus();
  });
  render();
}

start();
