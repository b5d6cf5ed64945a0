# China's generative-AI Interim Measures: a public-facing service in mainland China (tenant HQ
# exactly CN; HK and MO are outside the Measures) may only use a CAC-filed model, served from a
# China partition.
package tollgate.routing

import rego.v1

china_partitions := {"aws-cn", "AzureChinaCloud"}

deny contains r if {
	tenant.public_facing == true
	tenant.hq_country == "CN"
	some r in cn_filing_violation
}

cn_filing_violation contains reason(
	"CN_FILING_REQUIRED",
	concat("", ["Tenant ", tenant.id, " offers generative AI to the public in mainland China and model ", model.id, " is not CAC-filed (source: ", filing_source, ")."]),
	{"tenant": tenant.id, "model": model.id, "cn_genai_filed": false, "source": filing_source},
) if {
	model
	not model.cn_genai_filed.value == true
}

cn_filing_violation contains reason(
	"CN_FILING_REQUIRED",
	concat("", ["Tenant ", tenant.id, " offers generative AI to the public in mainland China and member region ", m.region, " of ", target.id, " is in partition ", object.get(m, "partition", "unknown"), ", not a China partition (source: ", object.get(m, "source", target.source), ")."]),
	{"tenant": tenant.id, "target": target.id, "region": m.region, "partition": object.get(m, "partition", null), "china_partitions": sort(china_partitions)},
) if {
	some m in target.member_facts
	not m.partition in china_partitions
}

filing_source := model.cn_genai_filed.source if {
	model.cn_genai_filed.source
} else := "no CAC filing recorded for the model"
