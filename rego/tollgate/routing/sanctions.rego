# OFAC comprehensive sanctions and EAR embargo groups, applied to every party of the request
# (tenant HQ, tenant parent, each member region of the target, each subject nationality).
package tollgate.routing

import rego.v1

# EAR groups that bar any model (terrorist-supporting and unilateral embargo).
embargo_groups := {"E:1", "E:2"}

# Macau is not in D:5, but the advanced-computing rules treat "D:5 or Macau" together.
macau := "MO"

deny contains reason(
	"SANCTIONED_JURISDICTION",
	concat("", ["The ", p.role, " ", p.code, " is under an OFAC comprehensive sanctions programme", via_text(p, w), window_text(w), " (source: ", w.source, ")."]),
	{"party": p.role, "jurisdiction": p.code, "via": w.via, "program": "comprehensive", "since": w.since, "until": w.until, "source": w.source},
) if {
	some p in parties
	some w in object.get(p.jurisdiction.ofac, "comprehensive", [])
	active(w)
}

deny contains reason(
	"EMBARGOED_DESTINATION",
	concat("", ["The ", p.role, " ", p.code, " is in EAR country group ", w.group, via_text(p, w), window_text(w), " (source: ", w.source, ")."]),
	{"party": p.role, "jurisdiction": p.code, "via": w.via, "group": w.group, "since": w.since, "until": w.until, "source": w.source},
) if {
	some p in parties
	some g in embargo_groups
	some w in object.get(p.jurisdiction.ear_groups, g, [])
	active(w)
}

deny contains reason(
	"EMBARGOED_DESTINATION",
	concat("", ["Model ", model.id, " is a closed frontier model (", concat(", ", sort(frontier_basis)), ") and the ", p.role, " ", p.code, " is in EAR country group D:5", via_text(p, w), window_text(w), " (source: ", w.source, ")."]),
	{"party": p.role, "jurisdiction": p.code, "via": w.via, "group": "D:5", "model": model.id, "frontier_basis": sort(frontier_basis), "since": w.since, "until": w.until, "source": w.source},
) if {
	closed_frontier
	some p in parties
	some w in object.get(p.jurisdiction.ear_groups, "D:5", [])
	active(w)
}

deny contains reason(
	"EMBARGOED_DESTINATION",
	concat("", ["Model ", model.id, " is a closed frontier model (", concat(", ", sort(frontier_basis)), ") and the ", p.role, " ", p.code, " is Macau, which the advanced-computing rules treat with D:5 (source: ", p.source, ")."]),
	{"party": p.role, "jurisdiction": p.code, "group": "Macau", "model": model.id, "frontier_basis": sort(frontier_basis), "source": p.source},
) if {
	closed_frontier
	some p in parties
	is_macau(p)
}

is_macau(p) if p.code == macau

is_macau(p) if p.jurisdiction.effective == macau
