package meshrc.routing.gateways_test

import data.meshrc.routing.gateways
import data.meshrc.test.fixtures as fx

base := [
	fx.gateway("istio-system", "public", {"servers": [{"hosts": ["*"]}]}),
	fx.gateway("web", "local", {"servers": [{"hosts": ["*"]}]}),
]

found(spec) := result if {
	result := fx.keys(gateways.findings) with input as fx.mesh(array.concat(base, [fx.vs("web", "v", spec)]))
}

test_existing_gateways_and_the_mesh if {
	found({"gateways": ["mesh", "istio-system/public", "./local", "local", "public.istio-system"]}) == set()
}

test_missing_gateways if {
	found({"gateways": ["public", "istio-system/nope", "./nope", "nope.istio-system.svc.cluster.local"]}) == {
		["gateway-not-found", "web", "v", "spec.gateways[0]"],
		["gateway-not-found", "web", "v", "spec.gateways[1]"],
		["gateway-not-found", "web", "v", "spec.gateways[2]"],
		["gateway-not-found", "web", "v", "spec.gateways[3]"],
	}
}

test_match_level_gateways if {
	found({
		"http": [{"match": [{"uri": {"prefix": "/"}}, {"gateways": ["mesh", "other/gw"]}]}],
		"tcp": [{"match": [{"gateways": ["istio-system/public"]}]}],
		"tls": [{"match": [{"gateways": ["gone"]}]}],
	}) == {
		["gateway-not-found", "web", "v", "spec.http[0].match[1].gateways[1]"],
		["gateway-not-found", "web", "v", "spec.tls[0].match[0].gateways[0]"],
	}
}

test_a_gateway_api_gateway_does_not_count if {
	doc := fx.mesh([
		fx.k8s_object("gateway.networking.k8s.io/v1", "Gateway", "istio-system", "api", {}),
		fx.vs("web", "v", {"gateways": ["istio-system/api"]}),
	])
	fx.keys(gateways.findings) == {["gateway-not-found", "web", "v", "spec.gateways[0]"]} with input as doc
}

test_messages if {
	doc := fx.mesh([fx.vs("web", "v", {"gateways": ["nope", "istio-system/gone"]})])
	messages := {f.field: f.message | some f in gateways.findings} with input as doc
	messages["spec.gateways[0]"] == "gateway web/nope does not exist (referenced as nope)"
	messages["spec.gateways[1]"] == "gateway istio-system/gone does not exist"
}
