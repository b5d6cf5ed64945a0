package tollgate.routing_test

import rego.v1


test_decision_shape if {
	d := data.tollgate.routing.decision with input as object.union(base, {}) with data.tollgate.registry as registry
	object.keys(d) == {"allow", "reasons", "obligations", "valid_until_ns"}
}

test_allow_false_when_any_reason if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "ir-co", "target": "aws-bedrock:crimea"}) with data.tollgate.registry as registry
	count(d.reasons) > 1
	d.allow == false
}

test_reasons_sorted_by_code if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "nobody", "model": "nobody", "target": "nowhere"}) with data.tollgate.registry as registry
	[r.code | some r in d.reasons] == ["UNKNOWN_MODEL", "UNKNOWN_REGION", "UNKNOWN_TENANT"]
}

test_reason_names_source if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "ir-co"}) with data.tollgate.registry as registry
	some r in d.reasons
	r.code == "SANCTIONED_JURISDICTION"
	contains(r.message, r.facts.source)
	contains(r.message, "IR")
}

test_valid_until_next_window if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "partner", "model": "anthropic.mythos", "now_ns": times.iil}) with data.tollgate.registry as registry
	d.valid_until_ns == times.exempt
}

test_valid_until_release if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "acme", "model": "anthropic.frontier", "now_ns": times.gov_access - 1}) with data.tollgate.registry as registry
	d.valid_until_ns == times.gov_access
}

test_valid_until_none if {
	d := data.tollgate.routing.decision with input as object.union(base, {}) with data.tollgate.registry as registry
	d.valid_until_ns == null
}

# A member region's window edge bounds the decision too (no fixture region has one: add it).
test_valid_until_member_region_edge if {
	reg := object.union(registry, {"targets": {"aws:us-east-1": {"edges": [times.iil, times.exempt]}}})
	d := data.tollgate.routing.decision with input as object.union(base, {"now_ns": times.iil}) with data.tollgate.registry as reg
	d.valid_until_ns == times.exempt
}

# `allow` (for callers that query it alone) follows the decision and fails closed.
test_allow_rule_follows_decision if {
	a := data.tollgate.routing.allow with input as object.union(base, {}) with data.tollgate.registry as registry
	a == true
}

test_allow_rule_false_when_denied if {
	a := data.tollgate.routing.allow with input as object.union(base, {"tenant": "ir-co"}) with data.tollgate.registry as registry
	a == false
}

# Unknown ids take the second lookup branch; the other concerns still run on the known records.
test_unknown_id_keeps_other_reasons if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "nobody", "target": "aws-bedrock:crimea"}) with data.tollgate.registry as registry
	denied(d, "UNKNOWN_TENANT")
	denied(d, "SANCTIONED_JURISDICTION")
}
