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
# microseconds on every rule or function it evaluates (even one that fails at once) and on every
# reference into `data`, while local variables, comprehensions and inline tests are almost free.
# So the records are looked up once and passed on, and `decide` asks a concern only when the
# request has the fact that concern starts from (see `decide`); most requests have none of them,
# and a decision then costs a handful of lookups (benchmarks/policy_eval.py).
package tollgate.routing

import rego.v1

# The common case: every id of the request is in the registry and the input is well formed (every
# member of the target is known, the time is a number, the subject is null or an object), so
# known.rego has nothing to report. Otherwise (the `else` branch) the missing records are passed
# as null, every concern still runs, and known.rego names what is unknown or malformed: an
# unknown tenant, model or target is a reason, never an error or a skipped rule. (An absent
# subject, which the API never sends, takes the `else` branch and gets the same decision.)
decision := decide(reg, tenant, model, target, provider, set()) if {
	reg := data.tollgate.registry
	tenant := reg.tenants[input.tenant]
	model := reg.models[input.model]
	target := reg.targets[input.target]
	provider := reg.providers[model.provider]
	target.unknown_members == []
	is_number(input.now_ns)
	type_name(input.subject) in {"null", "object"}
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
	# Sets are ordered differently by each engine, so order by strings: code, then message.
	# Strings compare the same everywhere; objects with nested numbers do not (see
	# rego/README.md), so the reason itself is compared only when code and message are equal
	# (never, in practice). `!= set()` first: most decisions have nothing to sort.
	"reasons": [r | reasons != set(); some [_, _, r] in sort([[x.code, x.message, x] | some x in reasons])],
	"obligations": [o | obligations != set(); some [_, _, o] in sort([[x.code, x.message, x] | some x in obligations])],
	"valid_until_ns": valid_until[0],
} if {
	# The subject's nationalities as resolved jurisdictions. A subject that is null or not an
	# object has none; unknown codes and nationalities that are not strings resolve to nothing.
	nationalities := [j | some n in input.subject.nationalities; j := reg.jurisdictions[n]]

	# Every precomputed sanctions fact about every party of the request: tenant headquarters and
	# parent (on the tenant), each member region (on the target), each subject nationality.
	party_facts := [f | some parties in [[tenant, target], nationalities]; some party in parties; some f in party.party_facts]

	# Each concern's reasons (see the module named after it). A concern is asked only when the
	# request has the registry fact it starts from, the test before `some r in`: without that
	# fact the concern can give no reason, and not asking saves its cost (most requests have
	# none of these facts). If you change what a concern starts from (say, china.rego should also
	# cover Hong Kong), change its test here too; tests/policy/test_guards.py fails when the
	# decisions with and without these tests differ.
	reasons := known |
		{r | true in {tenant.suspended, tenant.sanctioned}; some r in tenant_reasons(tenant)} |
		{r | not model.deployments[target.id]; some r in deployment_reasons(model, target)} |
		{r | party_facts != []; some r in sanctions_reasons(model, party_facts)} |
		{r | model.export_restrictions != []; some r in export_reasons(tenant, model)} |
		{r | model.covered_frontier.designated == true; some r in frontier_reasons(tenant, model)} |
		{r | tenant.residency.kind != "none"; some r in residency_reasons(tenant, target)} |
		{r | provider.customer_restrictions != []; some r in provider_reasons(tenant, provider)} |
		{r | provider.entity_list.value == true; some r in entity_list_reasons(tenant, model, provider)} |
		{r | tenant.public_facing == true; tenant.hq_country == "CN"; some r in china_reasons(tenant, model, target)}

	# Conditions attached to an allow.
	obligations := {o | provider.entity_list.value == true; some o in provider_obligations(tenant, model, provider)}

	# Fail closed: allow only when no concern gave a reason.
	allow := reasons == set()

	# valid_until_ns: the next instant after input.now_ns at which this decision could change by
	# itself, i.e. the earliest edge of any time window the concerns read for this request: the
	# EAR E:1/E:2/D:5 and OFAC windows of every party, the model's restriction dates, its release
	# windows, the tenant's trusted-partner windows, the provider's Entity-List and terms dates.
	# It is conservative (an edge may turn out not to change the answer) but never late, so a
	# cache may keep the decision until then. The data-document compiler lists those edges per
	# entity (`edges` on the tenant for its headquarters and parent, on the target for its member
	# regions, on each jurisdiction for a subject nationality, and on the model for its own and
	# its provider's dates); the trusted-partner windows are read here.
	future := {t |
		some entities in [[tenant, model, target], nationalities]
		some entity in entities
		some t in entity.edges
		t > input.now_ns
	} | {t |
		some w in model.trusted_partners[tenant.id]
		some t in [w.since_ns, w.until_ns]
		is_number(t)
		t > input.now_ns
	}

	# The earliest of them, or null when there is none. min() is avoided on purpose: rego-cpp
	# 1.5.2 orders large integers as text inside sets, so min/sort can be wrong across
	# magnitudes; `<=` compares numerically in both engines. (Bound to a variable and then
	# indexed: regorus 0.13 takes a slow error path for `builtin(...)[0]`, see rego/README.md.)
	valid_until := array.concat([t | some t in future; every u in future { t <= u }], [null])
}

# `deny` and `allow` for callers that query them alone; the decision does not read them.
# Fail closed: without a decision, deny is undefined and allow keeps its default, false.
deny := {r | some r in decision.reasons} if decision

default allow := false

allow if count(deny) == 0

# Messages are built with concat, never sprintf: rego-cpp 1.5.2 emits broken JSON when sprintf's
# %s receives the result of another builtin (concat, upper, format_int ...), and truncates %d of
# large integers to 32 bits. concat behaves the same in both engines.
