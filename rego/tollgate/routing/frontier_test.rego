package tollgate.routing_test

import rego.v1


frontier := {"model": "anthropic.frontier"}

at(tenant, t) := object.union(frontier, {"tenant": tenant, "now_ns": t})

test_before_government_access if {
	d := data.tollgate.routing.decision with input as object.union(base, at("gov", times.gov_access - 1)) with data.tollgate.registry as registry
	denied(d, "COVERED_FRONTIER_PRE_RELEASE")
}

test_government_window_government if {
	d := data.tollgate.routing.decision with input as object.union(base, at("gov", times.gov_access)) with data.tollgate.registry as registry
	clean_allow(d)
}

test_government_window_partner if {
	d := data.tollgate.routing.decision with input as object.union(base, at("partner", times.gov_access)) with data.tollgate.registry as registry
	denied(d, "COVERED_FRONTIER_PRE_RELEASE")
}

test_government_window_other if {
	d := data.tollgate.routing.decision with input as object.union(base, at("acme", times.gov_access)) with data.tollgate.registry as registry
	denied(d, "COVERED_FRONTIER_PRE_RELEASE")
}

test_partner_window_government if {
	d := data.tollgate.routing.decision with input as object.union(base, at("gov", times.tp_release)) with data.tollgate.registry as registry
	clean_allow(d)
}

# The partner's own designation starts after the partner window opens.
test_partner_window_partner_not_yet_designated if {
	d := data.tollgate.routing.decision with input as object.union(base, at("partner", times.tp_release)) with data.tollgate.registry as registry
	denied(d, "COVERED_FRONTIER_PRE_RELEASE")
}

test_partner_window_partner_designated if {
	d := data.tollgate.routing.decision with input as object.union(base, at("partner", times.partner_since)) with data.tollgate.registry as registry
	clean_allow(d)
}

test_partner_window_other if {
	d := data.tollgate.routing.decision with input as object.union(base, at("acme", times.partner_since)) with data.tollgate.registry as registry
	denied(d, "COVERED_FRONTIER_PRE_RELEASE")
}

test_public if {
	d := data.tollgate.routing.decision with input as object.union(base, at("acme", times.public)) with data.tollgate.registry as registry
	clean_allow(d)
}

test_not_covered if {
	d := data.tollgate.routing.decision with input as object.union(base, {"now_ns": times.gov_access - 1}) with data.tollgate.registry as registry
	not_denied(d, "COVERED_FRONTIER_PRE_RELEASE")
}
