# OFAC comprehensive sanctions and EAR embargo groups, applied to every party of the request:
# tenant headquarters, tenant ultimate parent (whatever its share), each member region of the
# target, each subject nationality.
#
# The facts per party are compiled by broker/policy/datadoc.py into `party_facts` (on the tenant,
# the target and each jurisdiction as a nationality), one entry per window with its `group`, its
# message and facts (naming the party, the jurisdiction, the treatment such as HK via CN, the
# window and the source). A jurisdiction's facts are its own plus those of the jurisdiction it is
# `treated_as` (HK and MO carry CN's windows). This module decides what each group bars, and when.
#
# A fact is in force while now is inside its window [since, until): `after` holds its since_ns
# and `before` its until_ns when set ([] when unbounded), so the two `every` lines below read
# "every start has passed and no end has come".
#
# model: the model record (null when unknown); facts: every fact about every party of this
# request, collected by main.rego (asked only when there is at least one).
package tollgate.routing

import rego.v1

sanctions_reasons(model, facts) := (sanctioned | embargoed) | frontier if {
	# Whatever the model: an OFAC comprehensive programme bars the request ...
	sanctioned := {r |
		some f in facts
		f.group == "OFAC comprehensive"
		every t in f.after { t <= input.now_ns }
		every t in f.before { input.now_ns < t }
		r := {"code": "SANCTIONED_JURISDICTION", "message": f.message, "facts": f.facts}
	}

	# ... and so do the EAR groups for terrorist-supporting countries (E:1) and unilateral
	# embargoes (E:2).
	embargoed := {r |
		some f in facts
		f.group in {"E:1", "E:2"}
		every t in f.after { t <= input.now_ns }
		every t in f.before { input.now_ns < t }
		r := {"code": "EMBARGOED_DESTINATION", "message": f.message, "facts": f.facts}
	}

	# Closed frontier models only (frontier.rego): EAR group D:5, and Macau, which is not in D:5
	# but which the advanced-computing rules treat together with it. The message reads
	# "Model M is a closed frontier model (basis) and the " + "<party> is in EAR country group D:5 ...".
	frontier := {r |
		model.closed_frontier == true
		some f in facts
		f.group in {"D:5", "Macau"}
		every t in f.after { t <= input.now_ns }
		every t in f.before { input.now_ns < t }
		r := {
			"code": "EMBARGOED_DESTINATION",
			"message": concat("", [model.frontier_head, f.message]),
			"facts": object.union(f.facts, {"model": model.id, "frontier_basis": model.frontier_basis}),
		}
	}
}
