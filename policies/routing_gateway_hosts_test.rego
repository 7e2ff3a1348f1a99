package meshrc.routing.gateway_hosts_test

import data.meshrc.routing.gateway_hosts
import data.meshrc.test.fixtures as fx

base := [
	fx.gateway("istio-system", "public", {"servers": [
		{"hosts": ["*.example.com", "web/admin.example.net"]},
		{"hosts": ["./internal.example.org", "*/shared.example.org"]},
	]}),
	fx.gateway("istio-system", "none", {}),
]

found(namespace, spec) := result if {
	result := fx.keys(gateway_hosts.findings) with input as fx.mesh(array.concat(base, [fx.vs(namespace, "v", spec)]))
}

test_admitted_hosts if {
	found("web", {
		"gateways": ["istio-system/public"],
		"hosts": ["a.example.com", "*.example.com", "admin.example.net", "shared.example.org", "*"],
	}) == set()
	found("istio-system", {"gateways": ["public"], "hosts": ["internal.example.org"]}) == set()
}

test_hosts_no_server_admits if {
	found("shop", {
		"gateways": ["istio-system/public"],
		"hosts": ["a.example.org", "admin.example.net", "internal.example.org", "example.com", "short"],
	}) == {["gateway-host-mismatch", "shop", "v", sprintf("spec.hosts[%d]", [h])] | some h in numbers.range(0, 4)}
}

test_a_gateway_without_servers_admits_nothing if {
	found("web", {"gateways": ["istio-system/none"], "hosts": ["a.example.com"]}) == {["gateway-host-mismatch", "web", "v", "spec.hosts[0]"]}
}

test_mesh_missing_gateways_and_match_gateways_are_not_checked if {
	found("web", {
		"gateways": ["mesh", "istio-system/missing"],
		"hosts": ["a.example.org"],
		"http": [{"match": [{"gateways": ["istio-system/public"]}]}],
	}) == set()
}

test_message if {
	doc := fx.mesh(array.concat(base, [fx.vs("shop", "v", {"gateways": ["istio-system/public"], "hosts": ["a.example.org"]})]))
	[f] := [f | some f in gateway_hosts.findings] with input as doc
	f.message == "host a.example.org is bound to gateway istio-system/public (gateways[0]), but no server of it admits this host from namespace shop (server hosts: *.example.com, */shared.example.org, ./internal.example.org, web/admin.example.net)"
}
