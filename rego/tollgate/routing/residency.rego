# Data residency: every member region of the target must satisfy the tenant's requirement.
#
#   eu_member_states  each member region's country is an EU member state (EFTA does not count)
#   countries         each member region's country is in the tenant's list
#   (any kind)        a global scope never satisfies it: its processing location is uncontrolled
package tollgate.routing

import rego.v1

residency_kind := tenant.residency.kind

# Most tenants have no residency requirement: one cheap test skips the three rules below.
deny contains r if {
	tenant.residency.kind != "none"
	some r in residency_violation
}

residency_violation contains reason(
	"RESIDENCY_VIOLATION",
	concat("", ["Tenant ", tenant.id, " requires data residency (", residency_kind, ") but ", target.id, " is a global scope whose processing location is not controlled (source: ", target.source, ")."]),
	{"tenant": tenant.id, "residency": tenant.residency, "target": target.id, "global": true, "source": target.source},
) if {
	residency_kind != "none"
	target.global == true
}

residency_violation contains reason(
	"RESIDENCY_VIOLATION",
	concat("", ["Tenant ", tenant.id, " requires EU member-state residency but member region ", m.region, " of ", target.id, " is in ", m.country, ", which is not an EU member state (source: ", eu_source(m), "; region: ", m.source, ")."]),
	{"tenant": tenant.id, "residency": tenant.residency, "target": target.id, "region": m.region, "country": m.country, "eu_member": false, "source": eu_source(m)},
) if {
	residency_kind == "eu_member_states"
	some m in target.member_facts
	m.known
	not m.jurisdiction.eu_member.value == true
}

residency_violation contains reason(
	"RESIDENCY_VIOLATION",
	concat("", ["Tenant ", tenant.id, " requires residency in ", concat(", ", tenant.residency.countries), " but member region ", m.region, " of ", target.id, " is in ", m.country, " (source: ", m.source, ")."]),
	{"tenant": tenant.id, "residency": tenant.residency, "target": target.id, "region": m.region, "country": m.country, "source": m.source},
) if {
	residency_kind == "countries"
	some m in target.member_facts
	m.known
	not m.country in tenant.residency.countries
}

eu_source(m) := m.jurisdiction.eu_member.source if {
	m.jurisdiction.eu_member.source
} else := "no EU membership recorded"
