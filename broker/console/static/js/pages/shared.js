// Lookups several pages share, fetched once per page view.

import { listAll } from "../lib/api.js";

/** Id/label pairs for tenants, targets (scopes then regions) and models, from the registry. */
export async function registryChoices(revision) {
  const q = revision ? { revision } : {};
  const [tenants, scopes, regions, models] = await Promise.all(
    ["tenants", "scopes", "regions", "models"].map((k) => listAll(`/v1/registry/${k}`, q)));
  return {
    tenants: tenants.items.map((t) => [t.id, t.name]),
    scopes: scopes.items,
    regions: regions.items,
    targets: [...scopes.items.map((s) => [s.id, s.name]), ...regions.items.map((r) => [r.id, r.name || r.country])],
    models: models.items.map((m) => [m.id, m.name]),
    modelItems: models.items,
  };
}
