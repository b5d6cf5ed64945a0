# valid_until_ns: the next instant after input.now_ns at which this decision could change by
# itself, i.e. the earliest edge of any time window the concerns read for this request:
# the EAR E:1/E:2/D:5 and OFAC windows of every party, the model's restriction dates, its
# release windows, the tenant's trusted-partner windows, the provider's Entity-List and terms
# dates. It is conservative (an edge may turn out not to change the answer) but never late, so a
# cache may keep the decision until then. null when no such edge exists.
#
# The data-document compiler lists those edges per entity, sorted (`edges` on the tenant for its
# headquarters and parent, on the target for its member regions, on each jurisdiction for a
# subject nationality, and on the model for its own and its provider's dates).
#
# tenant, model, target: registry records (null when unknown); nationalities: the resolved
# jurisdictions of the subject's nationalities.
package tollgate.routing

import rego.v1

# min() is avoided on purpose: rego-cpp 1.5.2 orders large integers as text inside sets, so
# min/sort can be wrong across magnitudes. `<=` compares numerically in both engines.
valid_until_ns(tenant, model, target, nationalities) := t if {
	future := {t |
		some entity in array.concat([tenant, model, target], nationalities)
		some t in entity.edges
		t > input.now_ns
	} | {t |
		some w in model.trusted_partners[tenant.id]
		some t in [w.since_ns, w.until_ns]
		is_number(t)
		t > input.now_ns
	}
	some t in future
	every u in future {
		t <= u
	}
} else := null
