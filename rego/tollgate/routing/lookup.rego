# Lookups into the compiled registry (data.tollgate.registry) and the request (input).
#
# Everything is keyed by id, so each lookup is O(1) whatever the number of tenants or models.
# Times are integer nanoseconds; windows are half-open [since_ns, until_ns) with null = unbounded.
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

# The resolved jurisdiction of a code; an unknown code has no facts (and so adds no restriction).
jurisdiction(code) := reg.jurisdictions[code]

jurisdiction(code) := {"code": code, "known": false, "effective": code, "ear_groups": {}, "ofac": {}} if {
	not reg.jurisdictions[code]
}

# started/ended/active: window tests. `!= null` guards keep the comparisons number-to-number.
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

# window_text renders a window for messages, e.g. " since 2025-01-15".
window_text(w) := concat("", [" from ", w.since, " until ", w.until]) if {
	w.since != null
	w.until != null
} else := concat("", [" since ", w.since]) if {
	w.since != null
} else := concat("", [" until ", w.until]) if {
	w.until != null
} else := ""

# The input string for messages, even when the field is missing or not a string.
input_text(field) := input[field] if {
	is_string(input[field])
} else := json.marshal(object.get(input, field, null))

# Parties: every jurisdiction the request touches, with the role it plays and the fact's source.
# Sanctions and embargo rules iterate these, so a new kind of party is added in one place.
parties contains {
	"role": "tenant headquarters",
	"code": tenant.hq_country,
	"jurisdiction": jurisdiction(tenant.hq_country),
	"source": tenant.source,
}

parties contains {
	"role": "tenant parent",
	"code": tenant.parent_country,
	"jurisdiction": jurisdiction(tenant.parent_country),
	"source": tenant.source,
} if tenant.parent_country != null

parties contains {
	"role": concat("", ["member region ", m.region]),
	"code": m.country,
	"jurisdiction": m.jurisdiction,
	"source": m.source,
} if {
	some m in target.member_facts
	m.known
}

parties contains {
	"role": "subject nationality",
	"code": n,
	"jurisdiction": jurisdiction(n),
	"source": "request input subject.nationalities",
} if {
	some n in subject_nationalities
}

# via_text names the treatment when a fact was inherited (e.g. HK's D:5 via CN).
via_text(party, w) := "" if {
	w.via == party.code
} else := concat("", [" (treated as ", w.via, ")"])
