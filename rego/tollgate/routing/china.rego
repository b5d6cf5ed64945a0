# China's generative-AI Interim Measures: a public-facing service in mainland China (tenant HQ
# exactly CN; HK and MO are outside the Measures) may only use a CAC-filed model, served from a
# China partition (aws-cn or AzureChinaCloud).
#
# tenant, model, target: registry records (null when unknown). main.rego asks this only for a
# public-facing tenant headquartered in CN.
package tollgate.routing

import rego.v1

# Other tenants get no reason (the `else`); main.rego does not even ask for them.
china_reasons(tenant, model, target) := unfiled | outside if {
	tenant.public_facing == true
	tenant.hq_country == "CN"

	unfiled := {r |
		model != null
		not model.cn_genai_filed.value == true
		r := {
			"code": "CN_FILING_REQUIRED",
			"message": concat("", ["Tenant ", tenant.id, " offers generative AI to the public in mainland China and model ", model.id, " is not CAC-filed (source: ", filing_source(model), ")."]),
			"facts": {"tenant": tenant.id, "model": model.id, "cn_genai_filed": false, "source": filing_source(model)},
		}
	}

	outside := {r |
		some m in target.member_facts
		not m.partition in {"aws-cn", "AzureChinaCloud"}
		r := {
			"code": "CN_FILING_REQUIRED",
			"message": concat("", ["Tenant ", tenant.id, " offers generative AI to the public in mainland China and member region ", m.region, " of ", target.id, " is in partition ", object.get(m, "partition", "unknown"), ", not a China partition (source: ", object.get(m, "source", target.source), ")."]),
			"facts": {"tenant": tenant.id, "target": target.id, "region": m.region, "partition": object.get(m, "partition", null), "china_partitions": ["AzureChinaCloud", "aws-cn"]},
		}
	}
} else := set()

filing_source(model) := model.cn_genai_filed.source if {
	model.cn_genai_filed.source
} else := "no CAC filing recorded for the model"
