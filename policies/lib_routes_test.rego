package meshrc.lib.routes_test

import data.meshrc.lib.routes
import data.meshrc.test.fixtures as fx

test_all_rules_walks_http_tls_and_tcp_rules_that_are_mappings if {
	doc := fx.mesh([fx.vs("shop", "a", {
		"http": [{"name": "h"}, "garbage"],
		"tcp": [{"name": "t"}],
		"tls": "garbage",
	})])
	rules := routes.all_rules with input as doc
	{[r[0], r[1], r[2], r[3]] | some r in rules} == {[0, "shop", "http", 0], [0, "shop", "tcp", 0]}
}

test_mesh_bound if {
	routes.mesh_bound({})
	routes.mesh_bound({"gateways": null})
	routes.mesh_bound({"gateways": []})
	routes.mesh_bound({"gateways": ["gw", "mesh"]})
	not routes.mesh_bound({"gateways": ["gw"]})
	not routes.mesh_bound({"gateways": "mesh"})
}
