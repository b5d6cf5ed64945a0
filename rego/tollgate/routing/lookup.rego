# Time windows and input helpers shared by the concerns.
#
# Times are integer nanoseconds since the epoch; windows are half-open [since, until). What
# depends on a single entity (a tenant's parties, a scope's member regions, a model's frontier
# class, the window edges) is computed once per registry revision by broker/policy/datadoc.py;
# each precomputed fact keeps its window, so the question "is it in force now?" is still decided
# on every request and decisions replay at any time.
#
# A window is tested inline, where it is used, in one of two forms:
#
#   every t in w.after { t <= input.now_ns }     every start has passed
#   every t in w.before { input.now_ns < t }     no end has come
#
# `after` holds the window's start and `before` its end, each as a one-element list when set and
# [] when unbounded (the compiler writes them next to the dates). Or, for one instant that may be
# unscheduled (null): `x != null` then `x <= input.now_ns`. Not helper functions: regorus 0.13
# charges microseconds for every function call, and these tests run for every fact of every
# request, while an inline test is almost free.
#
# The evaluation time is read as `input.now_ns` where it is used (not copied into a variable):
# if it is missing, every comparison with it is undefined, so a window with a start or an end
# never counts as open. known.rego reports the missing time as INVALID_INPUT.
package tollgate.routing

import rego.v1

# The input string for messages, even when the field is missing or not a string.
input_text(field) := input[field] if {
	is_string(input[field])
} else := json.marshal(object.get(input, field, null))
