package tollgate.routing_test

import rego.v1


test_ownership_terms if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "cn-owned", "model": "anthropic.mythos", "subject": us_person}) with data.tollgate.registry as registry
	denied(d, "PROVIDER_TERMS")
}

# (cn-minority is still denied Mythos: its ultimate parent is in D:5, see sanctions tests.)
test_minority_ownership_ok if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "cn-minority", "model": "anthropic.mythos", "subject": us_person}) with data.tollgate.registry as registry
	not_denied(d, "PROVIDER_TERMS")
}

test_hq_terms_via_treatment if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "hk-co", "model": "anthropic.mythos", "subject": us_person}) with data.tollgate.registry as registry
	denied(d, "PROVIDER_TERMS")
}

test_terms_not_yet_in_force if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "cn-owned", "model": "anthropic.mythos", "now_ns": times.syria_ofac_end}) with data.tollgate.registry as registry
	not_denied(d, "PROVIDER_TERMS")
}

test_other_provider if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "cn-owned"}) with data.tollgate.registry as registry
	not_denied(d, "PROVIDER_TERMS")
}

test_entity_list_government if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "gov", "model": "zai.glm"}) with data.tollgate.registry as registry
	denied(d, "ENTITY_LIST_PROVIDER")
}

test_entity_list_review if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "zai.glm"}) with data.tollgate.registry as registry
	d.allow == true
	[o.code | some o in d.obligations] == ["compliance_review"]
}

test_entity_list_not_yet if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "zai.glm", "tenant": "gov", "now_ns": times.syria_ofac_end - (200 * day)}) with data.tollgate.registry as registry
	not "ENTITY_LIST_PROVIDER" in codes(d)
	count(d.obligations) == 0
}

test_no_entity_list if {
	d := data.tollgate.routing.decision with input as object.union(base, {}) with data.tollgate.registry as registry
	count(d.obligations) == 0
}
