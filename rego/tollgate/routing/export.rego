# Per-model export restrictions (e.g. a Commerce is-informed letter limiting a model to US persons).
#
# In force over [effective, lifted): the data-document compiler gives each restriction `after` =
# [effective_ns] and `before` = [lifted_ns] ([] while never lifted). While in force the request
# is denied unless the subject is a US person (an absent subject is never one), or the
# restriction has a trusted-partner exemption in force (from trusted_partner_exempt_since_ns) and
# the tenant is a trusted partner of the model at that time (its own designation window active,
# see frontier.rego).
#
# tenant, model: registry records (null when unknown). main.rego asks this only for a model with
# export restrictions on record.
package tollgate.routing

import rego.v1

export_reasons(tenant, model) := {r |
	# The subject is not a US person: `us_person` is not true, or there is no subject object.
	not input.subject.us_person == true
	some x in model.export_restrictions
	every t in x.after { t <= input.now_ns }
	every t in x.before { input.now_ns < t }
	not exempt(x, tenant, model)
	r := {
		"code": "EXPORT_RESTRICTED_MODEL",
		"message": concat("", ["Model ", model.id, " is under export restriction ", x.id, " (", x.kind, ", effective ", x.effective, "): only US persons may use it", exemption_text(x), ", and the subject is not a US person (source: ", x.source, ")."]),
		"facts": {
			"model": model.id, "restriction": x.id, "kind": x.kind, "scope": x.scope,
			"effective": x.effective, "lifted": x.lifted, "us_person": false,
			"trusted_partner_exempt_since": x.trusted_partner_exempt_since, "source": x.source,
			"exemption_source": x.exemption_source,
		},
	}
}

exempt(x, tenant, model) if {
	x.trusted_partner_exempt_since_ns != null
	x.trusted_partner_exempt_since_ns <= input.now_ns
	trusted_partner(tenant, model)
}

exemption_text(x) := concat("", [" or trusted partners of the model from ", x.trusted_partner_exempt_since, " (source: ", x.exemption_source, "), which tenant ", input_text("tenant"), " is not at this time"]) if {
	x.trusted_partner_exempt_since != null
} else := ""
