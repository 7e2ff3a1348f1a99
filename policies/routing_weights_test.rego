package meshrc.routing.weights_test

import data.meshrc.routing.weights
import data.meshrc.test.fixtures as fx

weighted(pairs) := {"route": [{"destination": {"host": "a"}, "weight": w} | some w in pairs]}

found(rules) := result if {
	result := fx.keys(weights.findings) with input as fx.mesh([fx.vs("shop", "w", {"http": rules})])
}

test_weights_adding_up_to_100_or_a_single_destination if {
	found([
		weighted([80, 20]),
		weighted([100]),
		weighted([30]),
		{"route": [{"destination": {"host": "a"}, "weight": 100}, {"destination": {"host": "b"}}]},
		{"route": [{"destination": {"host": "a"}}]},
	]) == set()
}

test_weights_not_100 if {
	found([weighted([80, 20]), weighted([50, 40]), weighted([30, 30, 30])]) == {
		["weights-not-100", "shop", "w", "spec.http[1].route"],
		["weights-not-100", "shop", "w", "spec.http[2].route"],
	}
}

test_weights_zero if {
	found([
		weighted([0, 0]),
		{"route": [{"destination": {"host": "a"}}, {"destination": {"host": "b"}, "weight": null}]},
	]) == {
		["weights-zero", "shop", "w", "spec.http[0].route"],
		["weights-zero", "shop", "w", "spec.http[1].route"],
	}
}

test_tcp_and_tls_routes if {
	doc := fx.mesh([fx.vs("shop", "w", {"tcp": [weighted([10, 10])], "tls": [weighted([60, 60])]})])
	fx.keys(weights.findings) == {
		["weights-not-100", "shop", "w", "spec.tcp[0].route"],
		["weights-not-100", "shop", "w", "spec.tls[0].route"],
	} with input as doc
}

test_negative_or_non_numeric_weights_are_left_to_the_schema_check if {
	found([weighted([-10, 20]), weighted(["50", 20]), {"route": ["x", {"weight": 1}]}]) == set()
}

test_messages if {
	doc := fx.mesh([fx.vs("shop", "w", {"http": [
		{"route": [{"destination": {"host": "a"}, "weight": 70}, {"destination": {"host": "b"}}]},
		weighted([0, 0, 0]),
	]})])
	messages := {f.field: f.message | some f in weights.findings} with input as doc
	messages["spec.http[0].route"] == "weights add up to 70 (70 + 0), not 100"
	messages["spec.http[1].route"] == "the 3 destinations have a total weight of 0: no traffic can be routed"
}
