# Entry point of the default pack: the decision document.
#
# How to read this pack: this module looks up the request's tenant, model, target (a region or a
# routing scope), the model's provider and the subject's nationalities ONCE, and `decide` asks
# each concern for its reasons. Each concern is one function in its own module (known.rego,
# tenant.rego, deployment.rego, sanctions.rego, export.rego, frontier.rego, residency.rego,
# provider.rego, china.rego) that receives the records it needs as arguments and returns the set
# of reasons that forbid the request (empty when none). Adding a concern means adding one module
# and one line in `decide`; the fail-closed logic never changes.
#
# Why functions and local variables rather than one `deny` rule per case: regorus 0.13 spends
# microseconds on every rule it evaluates (even one that fails at once) and on every reference
# into `data`, while local variables and comprehensions are almost free. Looking the records up
# once and passing them on makes a decision about twice as fast (benchmarks/policy_eval.py).
package tollgate.routing

import rego.v1

# The common case: every id of the request is in the registry and the input is well formed, so
# known.rego has nothing to report. Otherwise (the `else` branch) the missing records are passed
# as null, every concern still runs, and known.rego names what is unknown or malformed: an
# unknown tenant, model or target is a reason, never an error or a skipped rule.
decision := decide(reg, tenant, model, target, provider, set()) if {
	reg := data.tollgate.registry
	tenant := reg.tenants[input.tenant]
	model := reg.models[input.model]
	target := reg.targets[input.target]
	provider := reg.providers[model.provider]
	well_formed(target)
} else := decide(reg, tenant, model, target, provider, known_reasons(tenant, model, target)) if {
	# object.get with the one-element path [id] looks the id up as a key whatever its type, so a
	# missing or malformed field reads as null and can never address some other record.
	reg := data.tollgate.registry
	tenant := object.get(reg.tenants, [object.get(input, "tenant", null)], null)
	model_id := object.get(input, "model", null)
	model := object.get(reg.models, [model_id], null)
	target := object.get(reg.targets, [object.get(input, "target", null)], null)
	provider := object.get(reg.providers, [object.get(reg.models, [model_id, "provider"], null)], null)
}

# reg: the registry document (data.tollgate.registry), read once by `decision`; tenant, model,
# target, provider: its records for the request (null when unknown); known: known.rego's reasons.
decide(reg, tenant, model, target, provider, known) := {
	"allow": allow,
	"reasons": ordered(reasons),
	"obligations": ordered(obligations),
	"valid_until_ns": valid_until_ns(tenant, model, target, nationalities),
} if {
	# The subject's nationalities as resolved jurisdictions (unknown codes add nothing), and
	# whether the subject is a US person (an absent or null subject never is).
	nationalities := [j |
		is_object(input.subject)
		some n in input.subject.nationalities
		is_string(n)
		j := reg.jurisdictions[n]
	]
	us_person := count([true | is_object(input.subject); input.subject.us_person == true]) == 1

	# Each concern's reasons (see the module named after it).
	reasons := union({
		known,
		tenant_reasons(tenant),
		deployment_reasons(model, target),
		sanctions_reasons(tenant, model, target, nationalities),
		export_reasons(tenant, model, us_person),
		frontier_reasons(tenant, model),
		residency_reasons(tenant, target),
		provider_reasons(tenant, model, provider),
		china_reasons(tenant, model, target),
	})

	# Conditions attached to an allow.
	obligations := provider_obligations(tenant, model, provider)

	# Fail closed: allow only when no concern gave a reason.
	allow := count(reasons) == 0
}

# `deny` and `allow` for callers that query them alone; the decision does not read them.
# Fail closed: without a decision, deny is undefined and allow keeps its default, false.
deny := {r | some r in decision.reasons} if decision

default allow := false

allow if count(deny) == 0

# Sets are ordered differently by each engine, so order by strings: code, then message. Strings
# compare the same everywhere; objects with nested numbers do not (see rego/README.md), so the
# reason itself is compared only when code and message are equal (never, in practice).
ordered(items) := [item | some [_, _, item] in sort([[i.code, i.message, i] | some i in items])]

# Messages are built with concat, never sprintf: rego-cpp 1.5.2 emits broken JSON when sprintf's
# %s receives the result of another builtin (concat, upper, format_int ...), and truncates %d of
# large integers to 32 bits. concat behaves the same in both engines.
