package meshrc.guardrails.tls_test

import data.meshrc.guardrails.tls
import data.meshrc.test.fixtures as fx

disabled := {"mode": "DISABLE"}

mutual := {"mode": "ISTIO_MUTUAL"}

found(spec) := result if {
	result := fx.keys(tls.findings) with input as fx.mesh([fx.dr("shop", "d", spec)])
}

test_tls_disabled_wherever_it_can_be_set if {
	found({
		"host": "reviews",
		"trafficPolicy": {
			"tls": disabled,
			"portLevelSettings": [{"port": {"number": 80}, "tls": mutual}, {"port": {"number": 81}, "tls": disabled}],
		},
		"subsets": [
			{"name": "v1"},
			{"name": "v2", "trafficPolicy": {"tls": disabled, "portLevelSettings": [{"port": {"number": 82}, "tls": disabled}]}},
		],
	}) == {
		["dr-tls-disabled", "shop", "d", "spec.trafficPolicy.tls.mode"],
		["dr-tls-disabled", "shop", "d", "spec.trafficPolicy.portLevelSettings[1].tls.mode"],
		["dr-tls-disabled", "shop", "d", "spec.subsets[1].trafficPolicy.tls.mode"],
		["dr-tls-disabled", "shop", "d", "spec.subsets[1].trafficPolicy.portLevelSettings[0].tls.mode"],
	}
}

test_tls_enabled_or_unset if {
	found({
		"host": "reviews",
		"trafficPolicy": {"tls": mutual, "portLevelSettings": [{"port": {"number": 80}}]},
		"subsets": [{"name": "v1", "trafficPolicy": {"tls": {"mode": "SIMPLE"}}}],
	}) == set()
}

test_messages if {
	doc := fx.mesh([fx.dr("shop", "d", {
		"host": "reviews",
		"trafficPolicy": {"portLevelSettings": [{"port": {"number": 81}, "tls": disabled}]},
		"subsets": [{"name": "v2", "trafficPolicy": {"tls": disabled}}],
	})])
	messages := {f.field: f.message | some f in tls.findings} with input as doc
	messages["spec.trafficPolicy.portLevelSettings[0].tls.mode"] == "tls.mode is DISABLE on port 81 for reviews: this traffic leaves the sidecar in plain text, even under mesh-wide mutual TLS"
	messages["spec.subsets[0].trafficPolicy.tls.mode"] == "tls.mode is DISABLE in subset v2 for reviews: this traffic leaves the sidecar in plain text, even under mesh-wide mutual TLS"
}

test_messages_without_names_numbers_or_host if {
	doc := fx.mesh([fx.dr("shop", "d", {
		"trafficPolicy": {"portLevelSettings": [{"tls": disabled}]},
		"subsets": [{"trafficPolicy": {"tls": disabled}}],
	})])
	messages := {f.field: f.message | some f in tls.findings} with input as doc
	startswith(messages["spec.trafficPolicy.portLevelSettings[0].tls.mode"], "tls.mode is DISABLE on a port for its host:")
	startswith(messages["spec.subsets[0].trafficPolicy.tls.mode"], "tls.mode is DISABLE in subset 0 for its host:")
}
