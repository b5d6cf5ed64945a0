# OFAC comprehensive sanctions and EAR embargo groups, applied to every party of the request:
# tenant headquarters, tenant ultimate parent (whatever its share), each member region of the
# target, each subject nationality.
#
# The facts per party are compiled by broker/policy/datadoc.py into `party_facts` (on the tenant,
# the target and each jurisdiction as a nationality), one entry per window with its `group`, its
# message and facts (naming the party, the jurisdiction, the treatment such as HK via CN, the
# window and the source). A jurisdiction's facts are its own plus those of the jurisdiction it is
# `treated_as` (HK and MO carry CN's windows). This module decides what each group bars, and when.
package tollgate.routing

import rego.v1

# Facts that bar the request whatever the model: an OFAC comprehensive programme, and the EAR
# groups for terrorist-supporting countries (E:1) and unilateral embargoes (E:2).
sanctions_group := "OFAC comprehensive"

embargo_groups := {"E:1", "E:2"}

# Facts that bar closed frontier models only: EAR group D:5, and Macau, which is not in D:5 but
# which the advanced-computing rules treat together with it.
frontier_groups := {"D:5", "Macau"}

# Every fact about every party of this request (a fact about an unknown id adds nothing).
party_facts contains f if some f in tenant.party_facts

party_facts contains f if some f in target.party_facts

party_facts contains f if {
	some n in subject_nationalities
	some f in reg.jurisdictions[n].party_facts
}

deny contains {"code": "SANCTIONED_JURISDICTION", "message": f.message, "facts": f.facts} if {
	some f in party_facts
	f.group == sanctions_group
	in_window(f)
}

deny contains {"code": "EMBARGOED_DESTINATION", "message": f.message, "facts": f.facts} if {
	some f in party_facts
	f.group in embargo_groups
	in_window(f)
}

# "Model M is a closed frontier model (basis) and the " + "<party> is in EAR country group D:5 ...".
deny contains {
	"code": "EMBARGOED_DESTINATION",
	"message": concat("", [model.frontier_head, f.message]),
	"facts": object.union(f.facts, {"model": model.id, "frontier_basis": model.frontier_basis}),
} if {
	closed_frontier
	some f in party_facts
	f.group in frontier_groups
	in_window(f)
}
