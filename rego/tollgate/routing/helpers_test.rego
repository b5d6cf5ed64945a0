# Shared helpers for the unit tests (no test rules here).
#
# Each test evaluates `data.tollgate.routing.decision with input as ... with
# data.tollgate.registry as registry` in its own body, by its full path. regorus 0.13 yields
# undefined for `with` inside a function body and for `with` applied through an import alias.
package tollgate.routing_test

import rego.v1


base := {"tenant": "acme", "target": "aws:us-east-1", "model": "meta.llama", "subject": null, "now_ns": times.now}

codes(d) := {r.code | some r in d.reasons}

denied(d, code) if {
	code in codes(d)
	d.allow == false
}

not_denied(d, code) if not code in codes(d)

clean_allow(d) if {
	d.allow == true
	count(d.reasons) == 0
}

us_person := {"nationalities": ["US"], "us_person": true}

foreigner := {"nationalities": ["DE"], "us_person": false}

day := 86400000000000
