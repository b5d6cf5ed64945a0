# Unknown ids and malformed input: always a reason, never an error, so a typo cannot become a 500
# (or, worse, an allow because some other rule could not look its facts up).
package tollgate.routing

import rego.v1

deny contains reason(
	"UNKNOWN_TENANT",
	concat("", ["Tenant ", input_text("tenant"), " is not in the registry (source: registry revision in force)."]),
	{"tenant": object.get(input, "tenant", null)},
) if not tenant

deny contains reason(
	"UNKNOWN_MODEL",
	concat("", ["Model ", input_text("model"), " is not in the registry (source: registry revision in force)."]),
	{"model": object.get(input, "model", null)},
) if not model

deny contains reason(
	"UNKNOWN_REGION",
	concat("", ["Region or routing scope ", input_text("target"), " is not in the registry (source: registry revision in force)."]),
	{"target": object.get(input, "target", null)},
) if not target

# A scope naming a region the registry lacks cannot be checked member by member: fail closed.
deny contains reason(
	"UNKNOWN_REGION",
	concat("", ["Routing scope ", target.id, " includes region ", r, ", which is not in the registry (source: ", target.source, ")."]),
	{"target": target.id, "region": r, "source": target.source},
) if {
	some r in target.unknown_members
}

# Defence in depth: the API validates input, but a policy must not fail open if it did not.
# Without a numeric now_ns every time window would read as "not started" and restrictions
# with a start date would silently stop applying.
deny contains reason(
	"INVALID_INPUT",
	"Input field now_ns (evaluation time, integer nanoseconds since the epoch) is missing or not a number.",
	{"field": "now_ns", "value": object.get(input, "now_ns", null)},
) if not is_number(input.now_ns)

deny contains reason(
	"INVALID_INPUT",
	"Input field subject must be null or an object {nationalities: [...], us_person: bool}.",
	{"field": "subject", "value": input.subject},
) if {
	not is_null(input.subject)
	not is_object(input.subject)
}
