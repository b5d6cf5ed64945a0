# valid_until_ns: the next instant after input.now_ns at which this decision could change by
# itself, i.e. the earliest edge of any time window the rules above read for this request:
# the EAR E:1/E:2/D:5 and OFAC windows of every party, the model's restriction dates, its
# release windows, the tenant's trusted-partner windows, the provider's Entity-List and terms
# dates. It is conservative (an edge may turn out not to change the answer) but never late, so a
# cache may keep the decision until then. null when no such edge exists.
#
# The data-document compiler lists those edges per entity, sorted (`edges` on the tenant for its
# headquarters and parent, on the target for its member regions, on each jurisdiction for a
# subject nationality, and on the model for its own and its provider's dates).
package tollgate.routing

import rego.v1

future_edges contains t if {
	some t in tenant.edges
	t > now
}

future_edges contains t if {
	some t in target.edges
	t > now
}

future_edges contains t if {
	some n in subject_nationalities
	some t in reg.jurisdictions[n].edges
	t > now
}

future_edges contains t if {
	some t in model.edges
	t > now
}

future_edges contains t if {
	some w in model.trusted_partners[tenant.id]
	some t in [w.since_ns, w.until_ns]
	is_number(t)
	t > now
}

# min() is avoided on purpose: rego-cpp 1.5.2 orders large integers as text inside sets, so
# min/sort can be wrong across magnitudes. `<=` compares numerically in both engines.
valid_until_ns := t if {
	some t in future_edges
	every u in future_edges {
		t <= u
	}
} else := null
