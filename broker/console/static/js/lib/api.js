// fetch() wrapper: adds the bearer token and turns the broker's error bodies
// ({"error": {code, message, details}}) into ApiError so pages can show them plainly.

import { token } from "./auth.js";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/**
 * api("/v1/registry/models", {query: {q: "x"}, method, body, headers, as: "json"|"text"|"blob"|"response"})
 */
export async function api(path, opts = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(opts.query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
  }
  const headers = new Headers(opts.headers || {});
  const t = token();
  if (t) headers.set("Authorization", `Bearer ${t}`);
  let body = opts.body;
  if (body !== undefined && !(body instanceof Blob) && typeof body !== "string") {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, { method: opts.method || "GET", headers, body, signal: opts.signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "NETWORK", `cannot reach the broker: ${err.message}`);
  }
  if (!response.ok) throw await toError(response);
  const as = opts.as || "json";
  if (as === "response") return response;
  if (as === "text") return response.text();
  if (as === "blob") return response.blob();
  if (as === "bytes") return new Uint8Array(await response.arrayBuffer());
  if (response.status === 204) return null;
  return response.json();
}

async function toError(response) {
  let code = `HTTP_${response.status}`;
  let message = response.statusText || "request failed";
  let details;
  try {
    const data = await response.json();
    if (data && data.error) {
      code = data.error.code || code;
      message = data.error.message || message;
      details = data.error.details;
    } else if (data && data.detail) {
      message = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    }
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(response.status, code, message, details);
}

/** Fetch every page of a paginated list (items/total/offset/limit), up to `max` items. */
export async function listAll(path, query = {}, max = 5000) {
  const items = [];
  let offset = 0;
  const limit = 500;
  for (;;) {
    const page = await api(path, { query: { ...query, offset, limit } });
    items.push(...page.items);
    offset += page.items.length;
    if (!page.items.length || offset >= page.total || items.length >= max) return { items, page };
  }
}
