// The signed-in identity: a bearer token kept in sessionStorage (gone when the tab closes).
// Claims are decoded here only to decide what to show; the server verifies every call.

const KEY = "tollgate.console.token";
const listeners = new Set();

export function token() {
  return sessionStorage.getItem(KEY);
}

export function signIn(raw) {
  const cleaned = raw.trim().replace(/^Bearer\s+/i, "");
  const claims = decodeClaims(cleaned); // throws on garbage, before anything is stored
  sessionStorage.setItem(KEY, cleaned);
  notify();
  return claims;
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  notify();
}

export function onChange(fn) {
  listeners.add(fn);
}

function notify() {
  for (const fn of listeners) fn(claims());
}

/** The token's payload, or null when signed out. Not verified: display only. */
export function claims() {
  const t = token();
  if (!t) return null;
  try {
    return decodeClaims(t);
  } catch {
    return null;
  }
}

export function decodeClaims(jwt) {
  const parts = jwt.split(".");
  if (parts.length !== 3) throw new Error("a JWT has three dot-separated parts");
  const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  const payload = JSON.parse(new TextDecoder().decode(bytes));
  if (typeof payload !== "object" || payload === null) throw new Error("the token payload is not an object");
  return payload;
}

export function roles() {
  const c = claims();
  const r = c && c.roles;
  return new Set(Array.isArray(r) ? r : typeof r === "string" ? r.split(/[\s,]+/) : []);
}

/** True when the token holds any of `wanted` (admin implies officer, per the README). */
export function hasRole(...wanted) {
  const have = roles();
  if (have.has("admin") && wanted.includes("officer")) return true;
  return wanted.some((r) => have.has(r));
}

export function subject() {
  const c = claims();
  return c ? String(c.sub ?? "") : "";
}

export function expired() {
  const c = claims();
  return Boolean(c && typeof c.exp === "number" && c.exp * 1000 < Date.now());
}
