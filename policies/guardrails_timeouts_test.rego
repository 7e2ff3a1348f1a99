package meshrc.guardrails.timeouts_test

import data.meshrc.guardrails.timeouts
import data.meshrc.test.fixtures as fx

forward := [{"destination": {"host": "a"}}]

found(spec) := result if {
	result := fx.keys(timeouts.findings) with input as fx.mesh([fx.vs("shop", "t", spec)])
}

test_routes_with_a_timeout if {
	found({"http": [{"route": forward, "timeout": "3s"}]}) == set()
}

test_routes_without_a_timeout if {
	found({"http": [
		{"route": forward, "timeout": "3s"},
		{"route": forward},
		{"name": "canary", "route": forward, "timeout": null},
	]}) == {
		["route-timeout-required", "shop", "t", "spec.http[1]"],
		["route-timeout-required", "shop", "t", "spec.http[2]"],
	}
}

test_rules_that_forward_nothing_need_no_timeout if {
	found({
		"http": [
			{"redirect": {"uri": "/x"}},
			{"directResponse": {"status": 503}},
			{"delegate": {"name": "child"}},
			{"route": []},
			{"route": forward, "delegate": {"name": "child"}},
		],
		"tcp": [{"route": forward}],
		"tls": [{"route": forward}],
	}) == set()
}

test_message if {
	doc := fx.mesh([fx.vs("shop", "t", {"http": [{"name": "canary", "route": forward}]})])
	[f] := [f | some f in timeouts.findings] with input as doc
	f.severity == "warning"
	f.message == "http rule 0 (canary) sets no timeout: a slow upstream holds its callers until they give up; set timeout (e.g. 10s)"
}
