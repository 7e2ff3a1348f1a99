package meshrc.guardrails.retries_test

import data.meshrc.guardrails.retries
import data.meshrc.test.fixtures as fx

doc := fx.mesh([fx.vs("shop", "r", {"http": [
	{"retries": {"attempts": 5}},
	{"retries": {"attempts": 6}},
	{"retries": {"attempts": "9"}},
	{"retries": {}},
	{"name": "no-retries"},
]})])

test_at_most_five_attempts_by_default if {
	fx.keys(retries.findings) == {["retries-max", "shop", "r", "spec.http[1].retries.attempts"]} with input as doc
}

test_the_limit_is_a_parameter if {
	fx.keys(retries.findings) == {
		["retries-max", "shop", "r", "spec.http[0].retries.attempts"],
		["retries-max", "shop", "r", "spec.http[1].retries.attempts"],
	} with input as doc
		with data.meshrc.params as {"retries_max": 4}
	count(retries.findings) == 0 with input as doc with data.meshrc.params as {"retries_max": 6}
}

test_message if {
	[f] := [f | some f in retries.findings] with input as doc
	f.message == "http rule 1 retries 6 times, more than the 5 allowed (data.meshrc.params.retries_max)"
}
