# Provider-level facts: the provider's own customer terms and its BIS Entity List status.
package tollgate.routing

import rego.v1

# A country matches a restriction list by its own code or by its EAR treatment (HK as CN):
# provider bars on "China" are read to cover Hong Kong, failing closed. The data-document
# compiler lists every code a restriction covers either way in `c.match` ({code: true}).
listed(code, c) if c.match[code] == true

deny contains reason(
	"PROVIDER_TERMS",
	concat("", ["Provider ", provider.id, " bars customers headquartered in ", concat(", ", c.countries), "; tenant ", tenant.id, " is headquartered in ", tenant.hq_country, " (source: ", c.source, ")."]),
	{"provider": provider.id, "tenant": tenant.id, "basis": "headquarters", "country": tenant.hq_country, "countries": c.countries, "since": c.since, "source": c.source},
) if {
	some c in provider.customer_restrictions
	started(c)
	listed(tenant.hq_country, c)
}

deny contains reason(
	"PROVIDER_TERMS",
	concat("", ["Provider ", provider.id, " bars customers more than ", _pct(c.min_ownership_share), " owned from ", concat(", ", c.countries), "; tenant ", tenant.id, "'s parent is in ", tenant.parent_country, " with a ", _pct(tenant.parent_ownership_share), " share (source: ", c.source, ")."]),
	{"provider": provider.id, "tenant": tenant.id, "basis": "ownership", "country": tenant.parent_country, "share": tenant.parent_ownership_share, "min_ownership_share": c.min_ownership_share, "countries": c.countries, "since": c.since, "source": c.source},
) if {
	some c in provider.customer_restrictions
	started(c)
	tenant.parent_country != null
	listed(tenant.parent_country, c)
	tenant.parent_ownership_share > c.min_ownership_share
}

# Percent text without float formatting (engines print floats differently): 0.5 -> "50%".
_pct(share) := concat("", [format_int(round(share * 100), 10), "%"])

entity_listed if {
	provider.entity_list.value == true
	reached_or_unset(provider.entity_list.since_ns)
}

reached_or_unset(t) if t == null

reached_or_unset(t) if reached(t)

entity_list_facts := {"provider": provider.id, "tenant": tenant.id, "government": tenant.government, "since": provider.entity_list.since, "source": provider.entity_list.source}

deny contains reason(
	"ENTITY_LIST_PROVIDER",
	concat("", ["Provider ", provider.id, " of model ", model.id, " is on the BIS Entity List and tenant ", tenant.id, " is a government tenant (source: ", provider.entity_list.source, ")."]),
	entity_list_facts,
) if {
	entity_listed
	tenant.government == true
}

obligation contains reason(
	"compliance_review",
	concat("", ["Provider ", provider.id, " of model ", model.id, " is on the BIS Entity List: use by tenant ", tenant.id, " needs a compliance review (source: ", provider.entity_list.source, ")."]),
	entity_list_facts,
) if {
	entity_listed
	tenant
	not tenant.government == true
}
