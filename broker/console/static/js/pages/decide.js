// "Try a decision": the pre-flight form. Shows the answer, its reasons, the HTTP body sent and the
// policy input document the engine evaluated (rebuilt from the request and evaluated_at).

import { api } from "../lib/api.js";
import { hasRole } from "../lib/auth.js";
import { field, h, replace } from "../lib/dom.js";
import { errorBox, jsonBlock, loading, localInputToRfc3339, reasonList, renderValue } from "../lib/ui.js";
import { registryChoices } from "./shared.js";

export async function render(root, route) {
  const q = route.query;
  const choices = hasRole("officer", "admin") ? await registryChoices() : null;
  const tenant = h("input", { name: "tenant", required: true, list: "dl-tenants", value: q.get("tenant") || "", autocomplete: "off" });
  const region = h("input", { name: "region", required: true, list: "dl-targets", value: q.get("region") || "", autocomplete: "off" });
  const model = h("input", { name: "model", required: true, list: "dl-models", value: q.get("model") || "", autocomplete: "off" });
  const nats = h("input", { name: "nationalities", value: q.get("nationalities") || "", placeholder: "e.g. DE, FR" });
  const usPerson = h("input", { type: "checkbox", name: "us_person" });
  const at = h("input", { type: "datetime-local", name: "at", step: "1", value: q.get("at") || "" });
  const result = h("section", { "aria-live": "polite", "aria-label": "Decision" });

  const form = h("form", { class: "card" },
    h("div", { class: "row" },
      field("Tenant", tenant, "Tenant id, e.g. demo-acme-us.").wrap,
      field("Region or routing scope", region, "A region (aws:eu-central-1) or a scope (aws-bedrock:eu).").wrap,
      field("Model", model, "Model id, e.g. anthropic.claude-opus-4-7.").wrap),
    h("fieldset", {}, h("legend", {}, "Subject (optional: the end user)"),
      h("div", { class: "row" },
        field("Nationalities", nats, "ISO 3166-1 alpha-2 codes, comma separated.").wrap,
        h("div", { class: "field" }, h("label", {}, usPerson, " US person under the EAR"),
          h("small", { class: "help" }, "Unchecked means not a US person (the restrictive reading).")))),
    h("div", { class: "row" },
      field("Time (UTC)", at, "Leave empty for now; pick a future time to see a release window open.").wrap),
    h("button", { type: "submit", class: "primary" }, "Decide"));
  if (choices) form.append(...datalists(choices));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { tenant: tenant.value.trim(), region: region.value.trim(), model: model.value.trim() };
    const nationalities = nats.value.split(/[\s,]+/).filter(Boolean).map((n) => n.toUpperCase());
    if (nationalities.length || usPerson.checked) body.subject = { nationalities, us_person: usPerson.checked };
    const when = localInputToRfc3339(at.value);
    if (when) body.at = when;
    replace(result, loading("Asking the broker…"));
    try {
      const decision = await api("/v1/preflight", { method: "POST", body });
      replace(result, decisionView(decision, body));
    } catch (err) {
      replace(result, errorBox(err, "Pre-flight failed"), h("h3", {}, "Request body sent"), jsonBlock(body));
    }
  });

  replace(root, h("h2", {}, "Try a decision"),
    h("p", { class: "help" }, "Ask exactly what a gateway asks before a call. The answer is logged in the audit log like any other decision."),
    form, result);
}

export function decisionView(d, body) {
  return h("div", { class: "card" },
    h("p", { class: "verdict" },
      h("span", { class: `badge ${d.allow ? "allow" : "deny"}`, "data-testid": "verdict" }, d.allow ? "ALLOW" : "DENY"),
      " ", h("code", {}, body.tenant), " → ", h("code", {}, body.model), " in ", h("code", {}, body.region)),
    h("h3", {}, "Reasons"), reasonList(d.reasons),
    d.obligations?.length ? [h("h3", {}, "Obligations"), renderValue(d.obligations)] : null,
    h("h3", {}, "Details"),
    renderValue({
      decision_id: d.decision_id, effective_regions: d.effective_regions, evaluated_at: d.evaluated_at,
      valid_until: d.valid_until ?? "no scheduled change", policy_revision: d.policy_revision,
      registry_revision: d.registry_revision, engine: `${d.engine.name} ${d.engine.version}`,
    }),
    h("div", { class: "split" },
      h("div", {}, h("h3", {}, "Request body sent (POST /v1/preflight)"), jsonBlock(body)),
      h("div", {}, h("h3", {}, "Input document the engine evaluated"),
        h("p", { class: "help" }, "The policy input: the request with the evaluation time in nanoseconds. The audit record of this decision holds the same document."),
        jsonBlock(engineInput(body, d.evaluated_at)))));
}

export function engineInput(body, evaluatedAt) {
  return {
    tenant: body.tenant,
    target: body.region,
    model: body.model,
    subject: body.subject ? { nationalities: body.subject.nationalities, us_person: body.subject.us_person } : null,
    now_ns: rfc3339ToNs(evaluatedAt),
  };
}

/** "2027-01-15T08:00:00.123456789Z" -> 1800000000123456789n (BigInt: exact beyond 2^53). */
export function rfc3339ToNs(text) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text || "");
  if (!m) return text;
  const seconds = BigInt(Date.parse(`${m[1]}${m[3]}`) / 1000);
  const ns = seconds * 1_000_000_000n + BigInt((m[2] || "").padEnd(9, "0"));
  return ns;
}

function datalists(c) {
  const dl = (id, values) => h("datalist", { id }, values.map(([v, label]) => h("option", { value: v }, label)));
  return [dl("dl-tenants", c.tenants), dl("dl-targets", c.targets), dl("dl-models", c.models)];
}
