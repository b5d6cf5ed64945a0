package tollgate.routing_test

import rego.v1


test_sanctioned_hq if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "ir-co"}) with data.tollgate.registry as registry
	denied(d, "SANCTIONED_JURISDICTION")
}

test_sanctioned_parent if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "cu-owned"}) with data.tollgate.registry as registry
	denied(d, "SANCTIONED_JURISDICTION")
}

test_sanctioned_member_region if {
	d := data.tollgate.routing.decision with input as object.union(base, {"target": "aws-bedrock:crimea"}) with data.tollgate.registry as registry
	denied(d, "SANCTIONED_JURISDICTION")
}

test_sanctioned_nationality if {
	d := data.tollgate.routing.decision with input as object.union(base, {"subject": {"nationalities": ["IR"], "us_person": false}}) with data.tollgate.registry as registry
	denied(d, "SANCTIONED_JURISDICTION")
}

test_not_sanctioned if {
	d := data.tollgate.routing.decision with input as object.union(base, {"subject": foreigner}) with data.tollgate.registry as registry
	not_denied(d, "SANCTIONED_JURISDICTION")
}

# Syria's OFAC programme ended on 2025-06-30; its E:1 membership did not.
test_ofac_window_ended if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "sy-co"}) with data.tollgate.registry as registry
	not_denied(d, "SANCTIONED_JURISDICTION")
}

test_ofac_window_open if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "sy-co", "now_ns": times.syria_ofac_end - 1}) with data.tollgate.registry as registry
	denied(d, "SANCTIONED_JURISDICTION")
}

test_e1_any_model if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "sy-co"}) with data.tollgate.registry as registry
	denied(d, "EMBARGOED_DESTINATION")
}

test_e2_parent if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "cu-owned"}) with data.tollgate.registry as registry
	denied(d, "EMBARGOED_DESTINATION")
}

test_e1_nationality if {
	d := data.tollgate.routing.decision with input as object.union(base, {"subject": {"nationalities": ["IR"], "us_person": true}}) with data.tollgate.registry as registry
	denied(d, "EMBARGOED_DESTINATION")
}

test_no_embargo_open_model_d5 if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "hk-co", "target": "aws:ap-east-1"}) with data.tollgate.registry as registry
	not_denied(d, "EMBARGOED_DESTINATION")
}

# HK is treated as CN (D:5) for closed frontier models.
test_d5_via_treatment if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "hk-co", "model": "anthropic.frontier"}) with data.tollgate.registry as registry
	some r in d.reasons
	r.code == "EMBARGOED_DESTINATION"
	r.facts.via == "CN"
	r.facts.jurisdiction == "HK"
}

test_d5_member_region if {
	d := data.tollgate.routing.decision with input as object.union(base, {"target": "aws:ap-east-1", "model": "anthropic.frontier"}) with data.tollgate.registry as registry
	denied(d, "EMBARGOED_DESTINATION")
}

test_d5_systemic_risk_basis if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "cn-owned", "model": "acme.systemic"}) with data.tollgate.registry as registry
	denied(d, "EMBARGOED_DESTINATION")
}

test_macau if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "mo-co", "model": "acme.systemic"}) with data.tollgate.registry as registry
	some r in d.reasons
	r.code == "EMBARGOED_DESTINATION"
	r.facts.group == "Macau"
}

test_macau_open_model if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "mo-co"}) with data.tollgate.registry as registry
	not_denied(d, "EMBARGOED_DESTINATION")
}

# KH left D:5 on 2026-02-03 (fixture): no D:5 reason afterwards, one before.
test_d5_membership_ended if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "acme.systemic", "subject": {"nationalities": ["KH"], "us_person": false}}) with data.tollgate.registry as registry
	not_denied(d, "EMBARGOED_DESTINATION")
}

test_d5_membership_active if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "acme.systemic", "now_ns": times.syria_ofac_end, "subject": {"nationalities": ["KH"], "us_person": false}}) with data.tollgate.registry as registry
	denied(d, "EMBARGOED_DESTINATION")
}

test_unknown_nationality_adds_nothing if {
	d := data.tollgate.routing.decision with input as object.union(base, {"subject": {"nationalities": ["ZZ"], "us_person": false}}) with data.tollgate.registry as registry
	clean_allow(d)
}

test_window_named_in_message if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "acme.systemic", "subject": {"nationalities": ["RU", "KH"], "us_person": false}, "now_ns": times.syria_ofac_end}) with data.tollgate.registry as registry
	messages := {r.message | some r in d.reasons; r.code == "EMBARGOED_DESTINATION"}
	some m1 in messages
	contains(m1, " since 2022-02-24 ")
	some m2 in messages
	contains(m2, " from 2020-01-01 until 2026-02-03 ")
}
