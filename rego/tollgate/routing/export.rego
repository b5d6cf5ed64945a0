# Per-model export restrictions (e.g. a Commerce is-informed letter limiting a model to US persons).
#
# Active over [effective_ns, lifted_ns). While active the request is denied unless the subject is
# a US person (an absent subject is never one), or the restriction has a trusted-partner exemption
# in force (from trusted_partner_exempt_since_ns) and the tenant is a trusted partner of the model
# at that time (its own designation window active).
package tollgate.routing

import rego.v1

restriction_active(x) if {
	x.effective_ns <= now
	not_lifted(x)
}

not_lifted(x) if x.lifted_ns == null

not_lifted(x) if {
	x.lifted_ns != null
	now < x.lifted_ns
}

exempt(x) if {
	reached(x.trusted_partner_exempt_since_ns)
	trusted_partner
}

deny contains reason(
	"EXPORT_RESTRICTED_MODEL",
	concat("", ["Model ", model.id, " is under export restriction ", x.id, " (", x.kind, ", effective ", x.effective, "): only US persons may use it", exemption_text(x), ", and the subject is not a US person (source: ", x.source, ")."]),
	{
		"model": model.id, "restriction": x.id, "kind": x.kind, "scope": x.scope,
		"effective": x.effective, "lifted": x.lifted, "us_person": us_person_value,
		"trusted_partner_exempt_since": x.trusted_partner_exempt_since, "source": x.source,
		"exemption_source": x.exemption_source,
	},
) if {
	some x in model.export_restrictions
	restriction_active(x)
	not us_person
	not exempt(x)
}

exemption_text(x) := concat("", [" or trusted partners of the model from ", x.trusted_partner_exempt_since, " (source: ", x.exemption_source, "), which tenant ", input_text("tenant"), " is not at this time"]) if {
	x.trusted_partner_exempt_since != null
} else := ""

us_person_value := true if {
	us_person
} else := false
