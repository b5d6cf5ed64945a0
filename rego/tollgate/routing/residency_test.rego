package tollgate.routing_test

import rego.v1


test_eu_scope_with_non_eu_member if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "eu-co", "target": "aws-bedrock:eu"}) with data.tollgate.registry as registry
	some r in d.reasons
	r.code == "RESIDENCY_VIOLATION"
	r.facts.region == "aws:eu-west-2"
}

test_eu_region_ok if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "eu-co", "target": "aws-bedrock:de"}) with data.tollgate.registry as registry
	clean_allow(d)
}

test_global_never_satisfies if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "eu-co", "target": "aws-bedrock:global"}) with data.tollgate.registry as registry
	some r in d.reasons
	r.code == "RESIDENCY_VIOLATION"
	r.facts.global == true
}

test_countries_ok if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "ch-co", "target": "aws:eu-central-2"}) with data.tollgate.registry as registry
	clean_allow(d)
}

test_countries_violation if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "ch-co", "target": "aws:us-east-1"}) with data.tollgate.registry as registry
	denied(d, "RESIDENCY_VIOLATION")
}

test_no_requirement if {
	d := data.tollgate.routing.decision with input as object.union(base, {"target": "aws-bedrock:global"}) with data.tollgate.registry as registry
	not_denied(d, "RESIDENCY_VIOLATION")
}
