// The policy-lifecycle API (/v1/policies, broker/lifecycle/api.py), in one place so pages do not
// hard-code paths or response shapes.

import { api } from "../lib/api.js";

const BASE = "/v1/policies";
const enc = encodeURIComponent;

export const lifecycle = {
  /** {active, versions: [...]}, newest first. */
  versions: (query = {}) => api(BASE, { query: { limit: 200, ...query } }),
  version: (id) => api(`${BASE}/${enc(id)}`),
  files: async (id) => (await api(`${BASE}/${enc(id)}/files`)).files,
  diff: (from, to) => api(`${BASE}/${enc(from)}/diff/${enc(to)}`),
  events: async (id) => (await api(`${BASE}/log`, { query: { version: id } })).events,
  /** Returns the stored version (with its validation report). */
  push: async (files, message, parent) => (await api(BASE, { method: "POST", body: { files, message, parent } })).version,
  propose: (id, comment = "") => api(`${BASE}/${enc(id)}/propose`, { method: "POST", body: { comment } }),
  approve: (id, impactReportId, comment = "") => api(`${BASE}/${enc(id)}/approve`, { method: "POST", body: { impact_report_id: impactReportId, comment } }),
  reject: (id, reason) => api(`${BASE}/${enc(id)}/reject`, { method: "POST", body: { reason } }),
  withdraw: (id, reason = "") => api(`${BASE}/${enc(id)}/withdraw`, { method: "POST", body: { reason } }),
  activate: (id) => api(`${BASE}/${enc(id)}/activate`, { method: "POST", body: {} }),
  schedule: (id, at) => api(`${BASE}/${enc(id)}/activate`, { method: "POST", body: { at } }),
  schedules: async () => (await api(`${BASE}/schedules`)).schedules,
  cancelSchedule: (scheduleId) => api(`${BASE}/schedules/${enc(scheduleId)}`, { method: "DELETE" }),
  rollback: (reason) => api(`${BASE}/rollback`, { method: "POST", body: { reason } }),
  startImpact: (id, body = {}) => api(`${BASE}/${enc(id)}/impact`, { method: "POST", body }),
  job: (id, jobId) => api(`${BASE}/${enc(id)}/impact/${enc(jobId)}`),
  /** The stored report document (the stored row wraps it with who/when). */
  impact: async (reportId) => (await api(`${BASE}/impact-reports/${enc(reportId)}`)).report,
  impactCsv: (reportId) => api(`${BASE}/impact-reports/${enc(reportId)}`, { query: { format: "csv" }, as: "text" }),
  /** The newest impact report computed for a version, from the lifecycle log, or null. */
  latestImpactId: async (id) => {
    const events = await lifecycle.events(id);
    const e = events.find((x) => x.action === "impact" && x.details?.summary?.report_id);
    return e ? e.details.summary.report_id : null;
  },
};
