# Lookups into the compiled registry (data.tollgate.registry) and the request (input).
#
# Everything is keyed by id, so each lookup is O(1) whatever the number of tenants or models.
# Times are integer nanoseconds; windows are half-open [since_ns, until_ns) with null = unbounded.
#
# Speed: regorus spends microseconds on every rule it evaluates, even one that fails at once.
# So what depends on a single entity (a tenant's parties, a scope's member regions, a model's
# frontier class, the window edges) is computed once per registry revision by
# broker/policy/datadoc.py, and the rules here read it with a few lookups. Each precomputed fact
# keeps its window, so the rules still decide the time question at `now` on every request.
package tollgate.routing

import rego.v1

reg := data.tollgate.registry

now := input.now_ns

tenant := reg.tenants[input.tenant]

model := reg.models[input.model]

target := reg.targets[input.target]

provider := reg.providers[model.provider]

# The subject of the request; null or absent means "unknown person", which is never a US person.
subject := input.subject if is_object(input.subject)

subject_nationalities contains n if {
	some n in subject.nationalities
	is_string(n)
}

us_person if subject.us_person == true

# in_window(f): a precomputed fact is in force at `now`. `after` holds its since_ns and `before`
# its until_ns when set ([] when unbounded), i.e. the half-open window [since, until).
in_window(f) if {
	every t in f.after {
		t <= now
	}
	every t in f.before {
		now < t
	}
}

# started/ended/active: window tests on registry windows ({since_ns, until_ns}). `!= null`
# guards keep the comparisons number-to-number.
started(w) if w.since_ns == null

started(w) if {
	w.since_ns != null
	w.since_ns <= now
}

not_ended(w) if w.until_ns == null

not_ended(w) if {
	w.until_ns != null
	now < w.until_ns
}

active(w) if {
	started(w)
	not_ended(w)
}

# The input string for messages, even when the field is missing or not a string.
input_text(field) := input[field] if {
	is_string(input[field])
} else := json.marshal(object.get(input, field, null))
