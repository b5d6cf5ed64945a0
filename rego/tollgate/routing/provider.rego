# Provider-level facts: the provider's own customer terms and its BIS Entity List status.
#
# tenant, model, provider: registry records (null when unknown; provider is the model's).
# main.rego asks provider_reasons only for a provider with customer restrictions on record, and
# entity_list_reasons / provider_obligations only for a provider with an Entity List entry.
package tollgate.routing

import rego.v1

# A country matches a restriction list by its own code or by its EAR treatment (HK as CN):
# provider bars on "China" are read to cover Hong Kong, failing closed. The data-document
# compiler lists every code a restriction covers either way in `c.match` ({code: true}).
# A restriction is in force from its date: `c.after` = [since_ns] ([] when no date is recorded).
provider_reasons(tenant, provider) := headquarters | ownership if {
	headquarters := {r |
		some c in provider.customer_restrictions
		c.match[tenant.hq_country] == true
		every t in c.after { t <= input.now_ns }
		r := {
			"code": "PROVIDER_TERMS",
			"message": concat("", ["Provider ", provider.id, " bars customers headquartered in ", concat(", ", c.countries), "; tenant ", tenant.id, " is headquartered in ", tenant.hq_country, " (source: ", c.source, ")."]),
			"facts": {"provider": provider.id, "tenant": tenant.id, "basis": "headquarters", "country": tenant.hq_country, "countries": c.countries, "since": c.since, "source": c.source},
		}
	}

	ownership := {r |
		some c in provider.customer_restrictions
		tenant.parent_country != null
		c.match[tenant.parent_country] == true
		tenant.parent_ownership_share > c.min_ownership_share
		every t in c.after { t <= input.now_ns }
		r := {
			"code": "PROVIDER_TERMS",
			"message": concat("", ["Provider ", provider.id, " bars customers more than ", _pct(c.min_ownership_share), " owned from ", concat(", ", c.countries), "; tenant ", tenant.id, "'s parent is in ", tenant.parent_country, " with a ", _pct(tenant.parent_ownership_share), " share (source: ", c.source, ")."]),
			"facts": {"provider": provider.id, "tenant": tenant.id, "basis": "ownership", "country": tenant.parent_country, "share": tenant.parent_ownership_share, "min_ownership_share": c.min_ownership_share, "countries": c.countries, "since": c.since, "source": c.source},
		}
	}
}

# BIS Entity List: deny for government tenants; other tenants get an obligation instead.
entity_list_reasons(tenant, model, provider) := {r |
	tenant.government == true
	entity_listed(provider)
	r := {
		"code": "ENTITY_LIST_PROVIDER",
		"message": concat("", ["Provider ", provider.id, " of model ", model.id, " is on the BIS Entity List and tenant ", tenant.id, " is a government tenant (source: ", provider.entity_list.source, ")."]),
		"facts": entity_list_facts(tenant, provider),
	}
}

provider_obligations(tenant, model, provider) := {r |
	tenant != null
	not tenant.government == true
	entity_listed(provider)
	r := {
		"code": "compliance_review",
		"message": concat("", ["Provider ", provider.id, " of model ", model.id, " is on the BIS Entity List: use by tenant ", tenant.id, " needs a compliance review (source: ", provider.entity_list.source, ")."]),
		"facts": entity_list_facts(tenant, provider),
	}
}

# Listed from its listing date: `after` = [since_ns] ([] when no date is recorded: always).
entity_listed(provider) if {
	provider.entity_list.value == true
	every t in provider.entity_list.after { t <= input.now_ns }
}

entity_list_facts(tenant, provider) := {"provider": provider.id, "tenant": tenant.id, "government": tenant.government, "since": provider.entity_list.since, "source": provider.entity_list.source}

# Percent text without float formatting (engines print floats differently): 0.5 -> "50%".
_pct(share) := concat("", [format_int(round(share * 100), 10), "%"])
