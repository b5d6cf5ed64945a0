package tollgate.routing_test

import rego.v1


mythos := {"model": "anthropic.mythos"}

test_restricted_no_subject if {
	d := data.tollgate.routing.decision with input as object.union(base, mythos) with data.tollgate.registry as registry
	denied(d, "EXPORT_RESTRICTED_MODEL")
}

test_restricted_foreigner if {
	d := data.tollgate.routing.decision with input as object.union(base, object.union(mythos, {"subject": foreigner})) with data.tollgate.registry as registry
	denied(d, "EXPORT_RESTRICTED_MODEL")
}

test_restricted_us_person if {
	d := data.tollgate.routing.decision with input as object.union(base, object.union(mythos, {"subject": us_person})) with data.tollgate.registry as registry
	clean_allow(d)
}

test_restriction_not_yet_effective if {
	d := data.tollgate.routing.decision with input as object.union(base, object.union(mythos, {"now_ns": times.iil - 1})) with data.tollgate.registry as registry
	not_denied(d, "EXPORT_RESTRICTED_MODEL")
}

test_partner_before_exemption if {
	d := data.tollgate.routing.decision with input as object.union(base, object.union(mythos, {"tenant": "partner", "now_ns": times.exempt - 1})) with data.tollgate.registry as registry
	denied(d, "EXPORT_RESTRICTED_MODEL")
}

test_partner_exempt if {
	d := data.tollgate.routing.decision with input as object.union(base, object.union(mythos, {"tenant": "partner", "subject": foreigner, "now_ns": times.exempt})) with data.tollgate.registry as registry
	clean_allow(d)
}

test_government_not_exempt if {
	d := data.tollgate.routing.decision with input as object.union(base, object.union(mythos, {"tenant": "gov"})) with data.tollgate.registry as registry
	denied(d, "EXPORT_RESTRICTED_MODEL")
}

test_lifted_restriction_in_force if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "acme.lifted", "now_ns": times.iil}) with data.tollgate.registry as registry
	denied(d, "EXPORT_RESTRICTED_MODEL")
	d.valid_until_ns == times.public
}

test_lifted_restriction_lifted if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "acme.lifted", "now_ns": times.public}) with data.tollgate.registry as registry
	clean_allow(d)
}

# A trusted-partner designation that has ended no longer exempts the tenant.
test_partner_designation_ended if {
	ended := [{"since": "2026-06-12", "since_ns": times.iil, "until": "2026-07-01", "until_ns": times.public, "after": [times.iil], "before": [times.public], "source": "fixture: ended"}]
	reg := object.union(registry, {"models": {"anthropic.mythos": {"trusted_partners": {"partner": ended}}}})
	d := data.tollgate.routing.decision with input as object.union(base, object.union(mythos, {"tenant": "partner", "subject": foreigner, "now_ns": times.public})) with data.tollgate.registry as reg
	denied(d, "EXPORT_RESTRICTED_MODEL")
}

test_partner_designation_before_end if {
	ended := [{"since": "2026-06-12", "since_ns": times.iil, "until": "2026-07-01", "until_ns": times.public, "after": [times.iil], "before": [times.public], "source": "fixture: ended"}]
	reg := object.union(registry, {"models": {"anthropic.mythos": {"trusted_partners": {"partner": ended}}}})
	d := data.tollgate.routing.decision with input as object.union(base, object.union(mythos, {"tenant": "partner", "subject": foreigner, "now_ns": times.exempt})) with data.tollgate.registry as reg
	clean_allow(d)
	d.valid_until_ns == times.public
}
