package tollgate.routing_test

import rego.v1


test_not_deployed_in_region if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "anthropic.mythos", "target": "aws:eu-central-1", "subject": us_person}) with data.tollgate.registry as registry
	denied(d, "MODEL_NOT_DEPLOYED")
}

# A deployment on a scope does not serve requests for one of its member regions.
test_scope_deployment_does_not_serve_member if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "anthropic.frontier", "target": "aws:eu-central-1"}) with data.tollgate.registry as registry
	denied(d, "MODEL_NOT_DEPLOYED")
}

test_scope_deployment_serves_scope if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "anthropic.frontier", "target": "aws-bedrock:eu"}) with data.tollgate.registry as registry
	not_denied(d, "MODEL_NOT_DEPLOYED")
}

test_region_deployment_serves_region if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "anthropic.mythos", "subject": us_person}) with data.tollgate.registry as registry
	not_denied(d, "MODEL_NOT_DEPLOYED")
}

test_unknown_model_is_not_also_not_deployed if {
	d := data.tollgate.routing.decision with input as object.union(base, {"model": "nobody.model"}) with data.tollgate.registry as registry
	not_denied(d, "MODEL_NOT_DEPLOYED")
}
