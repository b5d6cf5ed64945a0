# Per-model export restrictions (e.g. a Commerce is-informed letter limiting a model to US persons).
#
# Active over [effective_ns, lifted_ns). While active the request is denied unless the subject is
# a US person (an absent subject is never one), or the restriction has a trusted-partner exemption
# in force (from trusted_partner_exempt_since_ns) and the tenant is a trusted partner of the model
# at that time (its own designation window active, see frontier.rego).
#
# tenant, model: registry records (null when unknown); us_person: the subject is a US person.
package tollgate.routing

import rego.v1

export_reasons(tenant, model, us_person) := {r |
	some x in model.export_restrictions
	us_person == false
	restriction_active(x)
	not exempt(x, tenant, model)
	r := {
		"code": "EXPORT_RESTRICTED_MODEL",
		"message": concat("", ["Model ", model.id, " is under export restriction ", x.id, " (", x.kind, ", effective ", x.effective, "): only US persons may use it", exemption_text(x), ", and the subject is not a US person (source: ", x.source, ")."]),
		"facts": {
			"model": model.id, "restriction": x.id, "kind": x.kind, "scope": x.scope,
			"effective": x.effective, "lifted": x.lifted, "us_person": us_person,
			"trusted_partner_exempt_since": x.trusted_partner_exempt_since, "source": x.source,
			"exemption_source": x.exemption_source,
		},
	}
}

restriction_active(x) if {
	x.effective_ns <= input.now_ns
	not_lifted(x)
}

not_lifted(x) if x.lifted_ns == null

not_lifted(x) if {
	x.lifted_ns != null
	input.now_ns < x.lifted_ns
}

exempt(x, tenant, model) if {
	reached(x.trusted_partner_exempt_since_ns)
	trusted_partner(tenant, model)
}

exemption_text(x) := concat("", [" or trusted partners of the model from ", x.trusted_partner_exempt_since, " (source: ", x.exemption_source, "), which tenant ", input_text("tenant"), " is not at this time"]) if {
	x.trusted_partner_exempt_since != null
} else := ""
