package tollgate.routing_test

import rego.v1


cn := {"tenant": "cn-public", "model": "zai.glm", "target": "aws:cn-north-1"}

test_filed_in_china_partition if {
	d := data.tollgate.routing.decision with input as object.union(base, cn) with data.tollgate.registry as registry
	clean_allow(d)
}

test_filed_scope_of_china_partitions if {
	d := data.tollgate.routing.decision with input as object.union(base, object.union(cn, {"target": "aws-bedrock:cn"})) with data.tollgate.registry as registry
	clean_allow(d)
}

test_unfiled_model if {
	d := data.tollgate.routing.decision with input as object.union(base, object.union(cn, {"model": "meta.unfiled"})) with data.tollgate.registry as registry
	denied(d, "CN_FILING_REQUIRED")
}

test_outside_china_partition if {
	d := data.tollgate.routing.decision with input as object.union(base, object.union(cn, {"target": "aws:us-east-1"})) with data.tollgate.registry as registry
	denied(d, "CN_FILING_REQUIRED")
}

test_no_filing_record if {
	d := data.tollgate.routing.decision with input as object.union(base, object.union(cn, {"model": "meta.llama"})) with data.tollgate.registry as registry
	denied(d, "CN_FILING_REQUIRED")
}

test_not_public_facing if {
	d := data.tollgate.routing.decision with input as object.union(base, object.union(cn, {"tenant": "cn-internal", "model": "meta.unfiled"})) with data.tollgate.registry as registry
	not_denied(d, "CN_FILING_REQUIRED")
}

