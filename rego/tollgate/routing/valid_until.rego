# valid_until_ns: the next instant after input.now_ns at which this decision could change by
# itself, i.e. the earliest edge of any time window the rules above read for this request.
# It is conservative (an edge may turn out not to change the answer) but never late, so a cache
# may keep the decision until then. null when no such edge exists.
package tollgate.routing

import rego.v1

time_groups := {"E:1", "E:2", "D:5"}

edges contains t if {
	some p in parties
	some g in time_groups
	some w in object.get(p.jurisdiction.ear_groups, g, [])
	some t in [w.since_ns, w.until_ns]
}

edges contains t if {
	some p in parties
	some w in object.get(p.jurisdiction.ofac, "comprehensive", [])
	some t in [w.since_ns, w.until_ns]
}

edges contains t if {
	some x in model.export_restrictions
	some t in [x.effective_ns, x.lifted_ns, x.trusted_partner_exempt_since_ns]
}

edges contains t if {
	some t in [covered.government_access_ns, covered.trusted_partner_release_ns, covered.public_release_ns]
}

edges contains t if {
	some w in model.trusted_partners[tenant.id]
	some t in [w.since_ns, w.until_ns]
}

edges contains provider.entity_list.since_ns

edges contains t if {
	some c in provider.customer_restrictions
	t := c.since_ns
}

future_edges := {t | some t in edges; is_number(t); t > now}

# min() is avoided on purpose: rego-cpp 1.5.2 orders large integers as text inside sets, so
# min/sort can be wrong across magnitudes. `<=` compares numerically in both engines.
valid_until_ns := t if {
	some t in future_edges
	every u in future_edges {
		t <= u
	}
} else := null
