package meshrc.guardrails.wildcard_hosts_test

import data.meshrc.guardrails.wildcard_hosts
import data.meshrc.test.fixtures as fx

found(spec) := result if {
	result := fx.keys(wildcard_hosts.findings) with input as fx.mesh([fx.vs("shop", "w", spec)])
}

test_wildcards_bound_to_the_mesh if {
	found({"hosts": ["*", "*.shop.svc.cluster.local", "reviews"]}) == {
		["no-wildcard-mesh-host", "shop", "w", "spec.hosts[0]"],
		["no-wildcard-mesh-host", "shop", "w", "spec.hosts[1]"],
	}
	found({"hosts": ["*.example.com"], "gateways": ["gw", "mesh"]}) == {["no-wildcard-mesh-host", "shop", "w", "spec.hosts[0]"]}
	found({"hosts": ["*.example.com"], "gateways": []}) == {["no-wildcard-mesh-host", "shop", "w", "spec.hosts[0]"]}
}

test_wildcards_on_a_gateway_only_and_other_hosts if {
	found({"hosts": ["*", "*.example.com"], "gateways": ["istio-system/public"]}) == set()
	found({"hosts": ["a*.example.com", "reviews", 3]}) == set()
}

test_message if {
	doc := fx.mesh([fx.vs("shop", "w", {"hosts": ["*"]})])
	[f] := [f | some f in wildcard_hosts.findings] with input as doc
	startswith(f.message, "host * is a wildcard bound to the mesh")
}
