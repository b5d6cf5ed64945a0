# Time-window tests and input helpers shared by the concerns.
#
# Times are integer nanoseconds since the epoch; windows are half-open [since_ns, until_ns) with
# null = unbounded. What depends on a single entity (a tenant's parties, a scope's member
# regions, a model's frontier class, the window edges) is computed once per registry revision by
# broker/policy/datadoc.py; each precomputed fact keeps its window, so the question "is it in
# force now?" is still decided on every request and decisions replay at any time.
#
# The evaluation time is read as `input.now_ns` where it is used (not copied into a variable):
# if it is missing, every comparison with it is undefined, so a window with a start or an end
# never counts as open. known.rego reports the missing time as INVALID_INPUT.
package tollgate.routing

import rego.v1

# in_window(f): a precomputed fact is in force now. `after` holds its since_ns and `before` its
# until_ns when set ([] when unbounded), i.e. the half-open window [since, until).
in_window(f) if {
	every t in f.after {
		t <= input.now_ns
	}
	every t in f.before {
		input.now_ns < t
	}
}

# started/not_ended/active: window tests on registry windows ({since_ns, until_ns}). `!= null`
# guards keep the comparisons number-to-number.
started(w) if w.since_ns == null

started(w) if {
	w.since_ns != null
	w.since_ns <= input.now_ns
}

not_ended(w) if w.until_ns == null

not_ended(w) if {
	w.until_ns != null
	input.now_ns < w.until_ns
}

active(w) if {
	started(w)
	not_ended(w)
}

# reached(t): the instant t (ns or null) is set and has passed.
reached(t) if {
	t != null
	t <= input.now_ns
}

# The input string for messages, even when the field is missing or not a string.
input_text(field) := input[field] if {
	is_string(input[field])
} else := json.marshal(object.get(input, field, null))
