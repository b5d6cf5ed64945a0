# Frontier models: the covered-frontier release windows (EO 14409) and the "closed frontier"
# class that the D:5 / Macau embargo applies to.
package tollgate.routing

import rego.v1

# A model is a closed frontier model when its weights are closed AND at least one of these holds
# (each is a registry fact with a source): a covered-frontier designation, any per-model export
# restriction on record, the EU GPAI systemic-risk flag. The data-document compiler lists the
# bases that hold in `model.frontier_basis` (sorted) and sets `model.closed_frontier`.
closed_frontier if model.closed_frontier == true

covered := model.covered_frontier if model.covered_frontier.designated == true

# reached(t): the instant t (ns or null) is set and has passed.
reached(t) if {
	t != null
	t <= now
}

# The release phase in force, latest first.
release_phase := "public" if {
	reached(covered.public_release_ns)
} else := "trusted_partner" if {
	reached(covered.trusted_partner_release_ns)
} else := "government" if {
	reached(covered.government_access_ns)
} else := "none"

# A tenant is a trusted partner of the model while one of its designation windows is active.
trusted_partner if {
	some w in model.trusted_partners[tenant.id]
	active(w)
}

release_allows if release_phase == "public"

release_allows if {
	release_phase in {"government", "trusted_partner"}
	tenant.government == true
}

release_allows if {
	release_phase == "trusted_partner"
	trusted_partner
}

phase_text := {
	"none": "before government access opens",
	"government": "in its government-only window",
	"trusted_partner": "in its government and trusted-partner window",
}

deny contains {
	"code": "COVERED_FRONTIER_PRE_RELEASE",
	"message": concat("", ["Model ", model.id, " is a covered frontier model ", phase_text[release_phase], " (government access ", _iso(covered.government_access), ", trusted partners ", _iso(covered.trusted_partner_release), ", public ", _iso(covered.public_release), ") and tenant ", tenant.id, " is not eligible (source: ", covered.source, ")."]),
	"facts": {
		"model": model.id, "tenant": tenant.id, "phase": release_phase,
		"government": tenant.government, "trusted_partner": trusted_partner_value,
		"government_access": covered.government_access, "trusted_partner_release": covered.trusted_partner_release,
		"public_release": covered.public_release, "source": covered.source,
	},
} if {
	model.covered_frontier.designated == true # (most models: stop here)
	covered
	tenant
	not release_allows
}

trusted_partner_value := true if {
	trusted_partner
} else := false

_iso(t) := t if {
	t != null
} else := "not scheduled"
