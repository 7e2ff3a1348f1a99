package meshrc.routing.gateway_hosts_test

import data.meshrc.routing.gateway_hosts
import data.meshrc.test.fixtures as fx

base := [
	fx.gateway("istio-system", "public", {"servers": [
		{"hosts": ["*.example.com", "web/admin.example.net"]},
		{"hosts": ["./internal.example.org", "*/shared.example.org"]},
	]}),
	fx.gateway("istio-system", "none", {}),
	fx.gateway("istio-system", "other", {"servers": [{"hosts": ["other.example.io"]}]}),
	fx.k8s_gateway("istio-system", "api", {"listeners": [{"hostname": "api.example.io"}]}),
	fx.k8s_gateway("istio-system", "open", {"listeners": [{"name": "http"}]}),
	fx.gateway("istio-system", "broken", {"servers": [{"hosts": "x"}]}),
]

found(namespace, spec) := result if {
	result := fx.keys(gateway_hosts.findings) with input as fx.mesh(array.concat(base, [fx.vs(namespace, "v", spec)]))
}

at(namespace, field) := ["gateway-host-mismatch", namespace, "v", field]

test_admitted_hosts if {
	found("web", {
		"gateways": ["istio-system/public"],
		"hosts": ["a.example.com", "*.example.com", "admin.example.net", "shared.example.org", "*"],
	}) == set()
	found("istio-system", {"gateways": ["public"], "hosts": ["internal.example.org"]}) == set()
}

# No host admitted: the gateway entry is reported (IST0132), not each host.
test_a_gateway_that_admits_none_of_the_hosts if {
	found("shop", {
		"gateways": ["istio-system/public"],
		"hosts": ["a.example.org", "admin.example.net", "internal.example.org", "example.com", "short"],
	}) == {at("shop", "spec.gateways[0]")}
	found("web", {"gateways": ["istio-system/none"], "hosts": ["a.example.com"]}) == {at("web", "spec.gateways[0]")}
}

# Some hosts admitted: each host no bound gateway admits is reported, and each gateway that
# admits none of them.
test_hosts_no_bound_gateway_admits if {
	found("shop", {
		"gateways": ["istio-system/public", "istio-system/other", "istio-system/none"],
		"hosts": ["a.example.com", "other.example.io", "b.example.org", "admin.example.net"],
	}) == {
		at("shop", "spec.hosts[2]"),
		at("shop", "spec.hosts[3]"),
		at("shop", "spec.gateways[2]"),
	}
}

test_bound_to_the_mesh_too_every_host_is_served if {
	found("shop", {
		"gateways": ["istio-system/public", "mesh", "istio-system/other"],
		"hosts": ["a.example.com", "b.example.org"],
	}) == {at("shop", "spec.gateways[2]")}
}

test_gateway_api_gateways if {
	found("shop", {"gateways": ["istio-system/api"], "hosts": ["api.example.io"]}) == set()
	found("shop", {"gateways": ["istio-system/api"], "hosts": ["www.example.io"]}) == {at("shop", "spec.gateways[0]")}
	found("shop", {"gateways": ["istio-system/open"], "hosts": ["www.example.io"]}) == set()
	found("shop", {"gateways": ["istio-system/api", "istio-system/other"], "hosts": ["api.example.io", "x.example.io"]}) == {
		at("shop", "spec.hosts[1]"),
		at("shop", "spec.gateways[1]"),
	}
}

test_missing_unreadable_and_match_gateways_and_no_hosts_are_not_checked if {
	found("web", {
		"gateways": ["mesh", "istio-system/missing", "istio-system/broken", 7],
		"hosts": ["a.example.org"],
		"http": [{"match": [{"gateways": ["istio-system/public"]}]}],
	}) == set()
	found("web", {"gateways": ["istio-system/other"]}) == set()
	found("web", {"gateways": ["istio-system/other"], "hosts": [1]}) == set()
	found("web", {"gateways": ["istio-system/other"], "hosts": "other.example.io"}) == set()
}

test_messages if {
	doc := fx.mesh(array.concat(base, [
		fx.vs("shop", "v", {"gateways": ["istio-system/public", "istio-system/none", "mesh"], "hosts": ["a.example.org"]}),
		fx.vs("shop", "w", {"gateways": ["istio-system/api", "istio-system/other", "gone"], "hosts": ["api.example.io", "x.example.io", 3]}),
	]))
	messages := {[f.resource.name, f.field]: f.message | some f in gateway_hosts.findings} with input as doc
	messages == {
		["v", "spec.gateways[0]"]: "gateway istio-system/public admits none of the hosts (a.example.org) from namespace shop (server hosts: *.example.com, */shared.example.org, ./internal.example.org, web/admin.example.net)",
		["v", "spec.gateways[1]"]: "gateway istio-system/none admits none of the hosts (a.example.org) from namespace shop (server hosts: )",
		["w", "spec.gateways[1]"]: "gateway istio-system/other admits none of the hosts (api.example.io, x.example.io) from namespace shop (server hosts: other.example.io)",
		["w", "spec.hosts[1]"]: "host x.example.io is admitted by none of the gateways this VirtualService is bound to (istio-system/api, istio-system/other, gone): it is not served",
	}
}

test_message_of_a_gateway_api_gateway if {
	doc := fx.mesh(array.concat(base, [fx.vs("shop", "v", {"gateways": ["istio-system/api"], "hosts": ["b.example.io"]})]))
	[f] := [f | some f in gateway_hosts.findings] with input as doc
	f.message == "gateway istio-system/api admits none of the hosts (b.example.io) from namespace shop (server hosts: api.example.io)"
}
