# Unknown ids and malformed input: always a reason, never an error, so a typo cannot become a 500
# (or, worse, an allow because some other concern could not look its facts up).
#
# tenant, model, target: the registry records of the request, null when unknown (main.rego). Asked
# only when main.rego's first lookup fails: some id is unknown, a member of the target is unknown,
# now_ns is not a number, or the subject is neither null, absent nor an object.
package tollgate.routing

import rego.v1

known_reasons(tenant, model, target) := reasons if {
	unknown_tenant := {r |
		tenant == null
		r := {
			"code": "UNKNOWN_TENANT",
			"message": concat("", ["Tenant ", input_text("tenant"), " is not in the registry (source: registry revision in force)."]),
			"facts": {"tenant": object.get(input, "tenant", null)},
		}
	}

	unknown_model := {r |
		model == null
		r := {
			"code": "UNKNOWN_MODEL",
			"message": concat("", ["Model ", input_text("model"), " is not in the registry (source: registry revision in force)."]),
			"facts": {"model": object.get(input, "model", null)},
		}
	}

	unknown_target := {r |
		target == null
		r := {
			"code": "UNKNOWN_REGION",
			"message": concat("", ["Region or routing scope ", input_text("target"), " is not in the registry (source: registry revision in force)."]),
			"facts": {"target": object.get(input, "target", null)},
		}
	}

	# A scope naming a region the registry lacks cannot be checked member by member: fail closed.
	unknown_member := {r |
		some region in target.unknown_members
		r := {
			"code": "UNKNOWN_REGION",
			"message": concat("", ["Routing scope ", target.id, " includes region ", region, ", which is not in the registry (source: ", target.source, ")."]),
			"facts": {"target": target.id, "region": region, "source": target.source},
		}
	}

	# Defence in depth: the API validates input, but a policy must not fail open if it did not.
	# Without a numeric now_ns every time window would read as "not started" and restrictions
	# with a start date would silently stop applying.
	invalid_now := {r |
		not is_number(input.now_ns)
		r := {
			"code": "INVALID_INPUT",
			"message": "Input field now_ns (evaluation time, integer nanoseconds since the epoch) is missing or not a number.",
			"facts": {"field": "now_ns", "value": object.get(input, "now_ns", null)},
		}
	}

	invalid_subject := {r |
		not is_null(input.subject)
		not is_object(input.subject)
		r := {
			"code": "INVALID_INPUT",
			"message": "Input field subject must be null or an object {nationalities: [...], us_person: bool}.",
			"facts": {"field": "subject", "value": input.subject},
		}
	}

	reasons := union({unknown_tenant, unknown_model, unknown_target, unknown_member, invalid_now, invalid_subject})
}
