package tollgate.routing_test

import rego.v1


test_suspended if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "suspended-co"}) with data.tollgate.registry as registry
	denied(d, "TENANT_SUSPENDED")
}

test_sanctioned_flag if {
	d := data.tollgate.routing.decision with input as object.union(base, {"tenant": "sanctioned-co"}) with data.tollgate.registry as registry
	denied(d, "TENANT_SUSPENDED")
}

test_not_suspended if {
	d := data.tollgate.routing.decision with input as object.union(base, {}) with data.tollgate.registry as registry
	not_denied(d, "TENANT_SUSPENDED")
}
