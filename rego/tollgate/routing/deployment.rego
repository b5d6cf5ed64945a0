# Is the model served at the requested target?
#
# Matching is exact: a deployment on region R serves requests for R only, and a deployment on
# routing scope S serves requests for S only. A region inside a scope is not served by the scope's
# deployment (the gateway would call a different endpoint / model id), and a scope is not served
# by deployments on some of its members (cross-region inference is its own product).
#
# model, target: registry records, null when unknown (then known.rego reports it, not this).
# main.rego asks this only when the model has no deployment keyed by the target's id.
package tollgate.routing

import rego.v1

deployment_reasons(model, target) := {r |
	model != null
	target != null
	not model.deployments[target.id]
	r := {
		"code": "MODEL_NOT_DEPLOYED",
		"message": concat("", ["Model ", model.id, " has no deployment on ", target.id, " (source: model record, ", model.source, ")."]),
		"facts": {"model": model.id, "target": target.id, "deployed_targets": model.deployed_targets},
	}
}
