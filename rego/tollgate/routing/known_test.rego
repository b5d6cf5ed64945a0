package tollgate.routing_test

import rego.v1


test_baseline_allowed if {
	d := data.tollgate.routing.decision with input as object.union(base, {}) with data.tollgate.registry as registry
	clean_allow(d)
}

test_unknown_tenant if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "nobody"}) with data.tollgate.registry as registry
	denied(d, "UNKNOWN_TENANT")
}

test_known_tenant if {
	d := data.tollgate.routing.decision with input as object.union(base, {}) with data.tollgate.registry as registry
	not_denied(d, "UNKNOWN_TENANT")
}

test_unknown_model if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "nobody.model"}) with data.tollgate.registry as registry
	denied(d, "UNKNOWN_MODEL")
}

test_known_model if {
	d := data.tollgate.routing.decision with input as object.union(base, {}) with data.tollgate.registry as registry
	not_denied(d, "UNKNOWN_MODEL")
}

test_unknown_region if {
	d := data.tollgate.routing.decision with input as object.union(base, {"target": "aws:nowhere-9"}) with data.tollgate.registry as registry
	denied(d, "UNKNOWN_REGION")
}

test_unknown_scope_member if {
	d := data.tollgate.routing.decision with input as object.union(base, {"target": "aws-bedrock:ghost"}) with data.tollgate.registry as registry
	denied(d, "UNKNOWN_REGION")
}

test_known_region if {
	d := data.tollgate.routing.decision with input as object.union(base, {"target": "aws-bedrock:eu"}) with data.tollgate.registry as registry
	not_denied(d, "UNKNOWN_REGION")
}

test_missing_fields_are_unknown_not_errors if {
	d := data.tollgate.routing.decision with input as {"now_ns": times.now} with data.tollgate.registry as registry
	codes(d) == {"UNKNOWN_TENANT", "UNKNOWN_MODEL", "UNKNOWN_REGION"}
	d.allow == false
}

test_invalid_now if {
	d := data.tollgate.routing.decision with input as object.union(base, {"now_ns": "yesterday"}) with data.tollgate.registry as registry
	denied(d, "INVALID_INPUT")
}

test_invalid_subject if {
	d := data.tollgate.routing.decision with input as object.union(base, {"subject": "someone"}) with data.tollgate.registry as registry
	denied(d, "INVALID_INPUT")
}

test_valid_input if {
	d := data.tollgate.routing.decision with input as object.union(base, {"subject": us_person}) with data.tollgate.registry as registry
	not_denied(d, "INVALID_INPUT")
}
