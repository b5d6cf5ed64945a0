# Data residency: every member region of the target must satisfy the tenant's requirement.
#
#   eu_member_states  each member region's country is an EU member state (EFTA does not count)
#   countries         each member region's country is in the tenant's list
#   (any kind)        a global scope never satisfies it: its processing location is uncontrolled
#
# tenant, target: registry records (null when unknown). main.rego asks this only for a tenant
# with a residency requirement (kind other than "none").
package tollgate.routing

import rego.v1

# Without a residency requirement there is no reason (the `else`); main.rego does not even ask.
residency_reasons(tenant, target) := (global | eu) | countries if {
	kind := tenant.residency.kind
	kind != "none"

	global := {r |
		target.global == true
		r := {
			"code": "RESIDENCY_VIOLATION",
			"message": concat("", ["Tenant ", tenant.id, " requires data residency (", kind, ") but ", target.id, " is a global scope whose processing location is not controlled (source: ", target.source, ")."]),
			"facts": {"tenant": tenant.id, "residency": tenant.residency, "target": target.id, "global": true, "source": target.source},
		}
	}

	eu := {r |
		kind == "eu_member_states"
		some m in target.member_facts
		m.known
		not m.jurisdiction.eu_member.value == true
		source := object.get(m.jurisdiction, ["eu_member", "source"], "no EU membership recorded")
		r := {
			"code": "RESIDENCY_VIOLATION",
			"message": concat("", ["Tenant ", tenant.id, " requires EU member-state residency but member region ", m.region, " of ", target.id, " is in ", m.country, ", which is not an EU member state (source: ", source, "; region: ", m.source, ")."]),
			"facts": {"tenant": tenant.id, "residency": tenant.residency, "target": target.id, "region": m.region, "country": m.country, "eu_member": false, "source": source},
		}
	}

	countries := {r |
		kind == "countries"
		some m in target.member_facts
		m.known
		not m.country in tenant.residency.countries
		r := {
			"code": "RESIDENCY_VIOLATION",
			"message": concat("", ["Tenant ", tenant.id, " requires residency in ", concat(", ", tenant.residency.countries), " but member region ", m.region, " of ", target.id, " is in ", m.country, " (source: ", m.source, ")."]),
			"facts": {"tenant": tenant.id, "residency": tenant.residency, "target": target.id, "region": m.region, "country": m.country, "source": m.source},
		}
	}
} else := set()
