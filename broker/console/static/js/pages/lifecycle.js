// The policy-lifecycle API, in one place so the pages do not hard-code paths.

import { api } from "../lib/api.js";

const BASE = "/v1/policies";
const enc = encodeURIComponent;

export const lifecycle = {
  versions: (query = {}) => api(`${BASE}/versions`, { query: { limit: 200, ...query } }),
  version: (id) => api(`${BASE}/versions/${enc(id)}`, { query: { validation: true } }),
  files: (id) => api(`${BASE}/versions/${enc(id)}/files`),
  events: (id) => api(`${BASE}/versions/${enc(id)}/events`),
  push: (files, message, parent) => api(`${BASE}/versions`, { method: "POST", body: { files, message, parent } }),
  action: (id, action, body = {}) => api(`${BASE}/versions/${enc(id)}/${action}`, { method: "POST", body }),
  schedule: (id, effectiveAt) => api(`${BASE}/versions/${enc(id)}/schedule`, { method: "POST", body: { effective_at: effectiveAt } }),
  schedules: () => api(`${BASE}/schedules`),
  rollback: (reason) => api(`${BASE}/rollback`, { method: "POST", body: { message: reason } }),
  active: () => api(`${BASE}/active`),
  startImpact: (id, body = {}) => api(`${BASE}/versions/${enc(id)}/impact`, { method: "POST", body }),
  job: (jobId) => api(`${BASE}/jobs/${enc(jobId)}`),
  impact: (reportId) => api(`${BASE}/impact/${enc(reportId)}`),
};
