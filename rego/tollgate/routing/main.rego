# Entry point of the default pack: the decision document.
#
# Every concern lives in its own module and adds to `deny` (reasons that forbid the request) or
# `obligation` (conditions attached to an allow). This module only assembles them, so adding a
# rule never touches the fail-closed logic below.
package tollgate.routing

import rego.v1

# Fail closed: allow is true only when the decision was computed and no deny reason exists.
default allow := false

allow if count(deny) == 0

decision := {
	"allow": allow,
	"reasons": ordered(deny),
	"obligations": ordered(obligation),
	"valid_until_ns": valid_until_ns,
}

# reason builds one entry of `reasons` / `obligations`.
reason(code, message, facts) := {"code": code, "message": message, "facts": facts}

# Sets are ordered differently by each engine, so order by a string key (code, then message).
# Strings compare the same everywhere; objects with nested numbers do not (see rego/README.md).
# When the keys are distinct (the usual case) one object keyed by them orders the items in
# O(n log n); otherwise the pairwise form keeps every item (scopes of 60 regions can yield 60
# reasons, and the pairwise form costs n^2 function calls).
ordered(items) := [by_key[k] | some k in sort(object.keys(by_key))] if {
	count({_key(i) | some i in items}) == count(items)
	by_key := {_key(i): i | some i in items}
} else := [item |
	some key in sort({_key(i) | some i in items})
	some item in items
	_key(item) == key
]

_key(item) := concat("\u0000", [item.code, item.message])

# Messages are built with concat, never sprintf: rego-cpp 1.5.2 emits broken JSON when sprintf's
# %s receives the result of another builtin (concat, upper, format_int ...), and truncates %d of
# large integers to 32 bits. concat behaves the same in both engines.
