# Frontier models: the covered-frontier release windows (EO 14409) and the "closed frontier"
# class that the D:5 / Macau embargo applies to (sanctions.rego).
#
# A model is a closed frontier model when its weights are closed AND at least one of these holds
# (each is a registry fact with a source): a covered-frontier designation, any per-model export
# restriction on record, the EU GPAI systemic-risk flag. The data-document compiler lists the
# bases that hold in `model.frontier_basis` (sorted) and sets `model.closed_frontier`.
#
# tenant, model: registry records (null when unknown). main.rego asks this only for a designated
# covered frontier model.
package tollgate.routing

import rego.v1

frontier_reasons(tenant, model) := {r |
	covered := model.covered_frontier
	covered.designated == true
	tenant != null
	phase := release_phase(covered)
	partner := is_trusted_partner(tenant, model)
	not release_allows(phase, tenant, partner)
	r := {
		"code": "COVERED_FRONTIER_PRE_RELEASE",
		"message": concat("", ["Model ", model.id, " is a covered frontier model ", phase_text[phase], " (government access ", _iso(covered.government_access), ", trusted partners ", _iso(covered.trusted_partner_release), ", public ", _iso(covered.public_release), ") and tenant ", tenant.id, " is not eligible (source: ", covered.source, ")."]),
		"facts": {
			"model": model.id, "tenant": tenant.id, "phase": phase,
			"government": tenant.government, "trusted_partner": partner,
			"government_access": covered.government_access, "trusted_partner_release": covered.trusted_partner_release,
			"public_release": covered.public_release, "source": covered.source,
		},
	}
}

# The release phase in force, latest first (an unscheduled release, null, is never reached).
release_phase(covered) := "public" if {
	covered.public_release_ns != null
	covered.public_release_ns <= input.now_ns
} else := "trusted_partner" if {
	covered.trusted_partner_release_ns != null
	covered.trusted_partner_release_ns <= input.now_ns
} else := "government" if {
	covered.government_access_ns != null
	covered.government_access_ns <= input.now_ns
} else := "none"

# Before public release: government tenants from government access, and also the model's
# trusted partners from the trusted-partner release.
release_allows(phase, _, _) if phase == "public"

release_allows(phase, tenant, _) if {
	phase in {"government", "trusted_partner"}
	tenant.government == true
}

release_allows(phase, _, partner) if {
	phase == "trusted_partner"
	partner == true
}

# A tenant is a trusted partner of the model while one of its designation windows is active:
# [since, until), given by the data-document compiler as `after` = [since_ns] and `before` =
# [until_ns] ([] when unbounded).
trusted_partner(tenant, model) if {
	some w in model.trusted_partners[tenant.id]
	every t in w.after { t <= input.now_ns }
	every t in w.before { input.now_ns < t }
}

is_trusted_partner(tenant, model) := true if {
	trusted_partner(tenant, model)
} else := false

phase_text := {
	"none": "before government access opens",
	"government": "in its government-only window",
	"trusted_partner": "in its government and trusted-partner window",
}

_iso(t) := t if {
	t != null
} else := "not scheduled"
