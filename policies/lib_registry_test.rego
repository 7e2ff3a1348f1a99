package meshrc.lib.registry_test

import data.meshrc.lib.registry
import data.meshrc.test.fixtures as fx

# --------------------------------------------------------------------------- visibility

test_exported if {
	registry.exported("shop", []) == {"*"}
	registry.exported("shop", null) == {"*"}
	registry.exported("shop", [".", "*"]) == {"*"}
	registry.exported("shop", [".", "web", "~"]) == {"shop", "web"}
}

# --------------------------------------------------------------------------- DestinationRules

rules := fx.mesh([
	fx.dr("shop", "reviews", {"host": "reviews", "subsets": [{"name": "v1"}, {"name": "v2"}]}),
	fx.dr("shop", "reviews-extra", {"host": "reviews.shop.svc.cluster.local", "subsets": [{"name": "v3"}]}),
	fx.dr("shop", "private", {"host": "private", "exportTo": ["."], "subsets": [{"name": "p1"}]}),
	fx.dr("shop", "shop-wide", {"host": "*.shop.svc.cluster.local", "subsets": [{"name": "w1"}]}),
	fx.dr("istio-system", "mesh-wide", {"host": "*.svc.cluster.local", "subsets": [{"name": "m1"}]}),
	fx.dr("shop", "broken", {"host": "broken", "subsets": [{"labels": {}}]}),
])

test_an_exact_host_wins_and_its_rules_merge if {
	registry.applied_host("reviews.shop.svc.cluster.local", "web") == "reviews.shop.svc.cluster.local" with input as rules
	registry.defined("v1", "reviews.shop.svc.cluster.local", "web") with input as rules
	registry.defined("v3", "reviews.shop.svc.cluster.local", "web") with input as rules
	not registry.defined("w1", "reviews.shop.svc.cluster.local", "web") with input as rules
}

test_the_most_specific_wildcard_applies if {
	registry.applied_host("details.shop.svc.cluster.local", "shop") == "*.shop.svc.cluster.local" with input as rules
	registry.defined("w1", "details.shop.svc.cluster.local", "shop") with input as rules
	not registry.defined("m1", "details.shop.svc.cluster.local", "shop") with input as rules
	registry.applied_host("x.web.svc.cluster.local", "shop") == "*.svc.cluster.local" with input as rules
}

test_an_exact_rule_hidden_by_export_to_falls_back_to_wildcards if {
	registry.defined("p1", "private.shop.svc.cluster.local", "shop") with input as rules
	registry.applied_host("private.shop.svc.cluster.local", "web") == "*.shop.svc.cluster.local" with input as rules
	not registry.defined("p1", "private.shop.svc.cluster.local", "web") with input as rules
}

test_no_rule_applies if {
	not registry.applied_host("api.example.org", "shop") with input as rules
	not registry.defined("v1", "api.example.org", "shop") with input as rules
}

test_public_subsets_by_host_and_by_short_name if {
	public := registry.public_subsets with input as rules
	"reviews.shop.svc.cluster.local|v1" in public
	"shop/reviews|v3" in public
	"*.shop.svc.cluster.local|w1" in public
	not "private.shop.svc.cluster.local|p1" in public
}

test_malformed_subsets_make_a_host_unknown if {
	registry.unknown_rule("broken.shop.svc.cluster.local") with input as rules
	not registry.unknown_rule("reviews.shop.svc.cluster.local") with input as rules
	not registry.subset_names(5) with input as rules
	registry.subset_names(0) == {"v1", "v2"} with input as rules
}

test_rule_sees if {
	registry.rule_sees(2, "shop") with input as rules
	not registry.rule_sees(2, "web") with input as rules
	registry.rule_sees(0, "web") with input as rules
}

# --------------------------------------------------------------------------- Gateways

gateways := fx.mesh([
	fx.gateway("istio-system", "public", {"servers": [{"hosts": ["*.example.com", "web/admin.example.net", "./internal.example.org"]}]}),
	fx.gateway("istio-system", "bare", {}),
	fx.gateway("istio-system", "garbage", {"servers": [{"hosts": "x"}]}),
])

test_gateways_by_namespace_and_name if {
	registry.gateway("istio-system", "public") == 0 with input as gateways
	not registry.gateway("web", "public") with input as gateways
}

test_well_formed_gateways if {
	registry.well_formed_gateway(0) with input as gateways
	registry.well_formed_gateway(1) with input as gateways
	not registry.well_formed_gateway(2) with input as gateways
}

test_admits if {
	registry.admits(0, "shop", "a.example.com") with input as gateways
	registry.admits(0, "shop", "*.example.com") with input as gateways
	registry.admits(0, "shop", "*") with input as gateways
	registry.admits(0, "web", "admin.example.net") with input as gateways
	not registry.admits(0, "shop", "admin.example.net") with input as gateways
	registry.admits(0, "istio-system", "internal.example.org") with input as gateways
	not registry.admits(0, "shop", "internal.example.org") with input as gateways
	not registry.admits(0, "shop", "example.com") with input as gateways
	not registry.admits(1, "shop", "a.example.com") with input as gateways
}

# Wildcards that are not "*" nor start with "*." match as written ("*ample.com" covers
# "example.com"), on either side: the gateway's hosts are compared one by one.
test_admits_with_odd_wildcards if {
	doc := fx.mesh([
		fx.gateway("a", "odd", {"servers": [{"hosts": ["*ample.com", "web/*x.org"]}]}),
		fx.gateway("a", "plain", {"servers": [{"hosts": ["example.com", "*.example.org"]}], "selector": {}}),
		fx.k8s_gateway("a", "odd-api", {"listeners": [{"hostname": "*ample.net"}]}),
		fx.gateway("a", "null", {"servers": null}),
	])
	registry.admits(0, "shop", "example.com") with input as doc
	registry.admits(0, "shop", "a.example.com") with input as doc
	not registry.admits(0, "shop", "example.org") with input as doc
	registry.admits(0, "web", "ax.org") with input as doc
	not registry.admits(0, "web", "x.org") with input as doc
	not registry.admits(0, "shop", "ax.org") with input as doc
	registry.admits(1, "shop", "*ample.com") with input as doc
	registry.admits(1, "shop", "*.org") with input as doc
	not registry.admits(1, "shop", "*ample.net") with input as doc
	registry.admits(2, "shop", "sample.net") with input as doc
	not registry.admits(2, "shop", "sample.org") with input as doc
	not registry.admits(3, "shop", "*") with input as doc
	registry.server_hosts(3) == [] with input as doc
}

test_a_gateway_api_gateway_is_not_an_istio_gateway if {
	doc := fx.mesh([
		fx.k8s_gateway("istio-system", "public", {}),
		fx.gateway("istio-system", "other", {}),
	])
	not registry.gateway("istio-system", "public") with input as doc
	registry.kubernetes_gateway("istio-system", "public") == 0 with input as doc
	registry.gateway_exists("istio-system", "public") with input as doc
	registry.gateway("istio-system", "other") == 1 with input as doc
	not registry.kubernetes_gateway("istio-system", "other") with input as doc
	not registry.gateway_exists("istio-system", "gone") with input as doc
}

# Istio and Gateway API Gateways of one name, in either order, and each declared twice:
# the first of each group counts, whichever the index points at.
test_gateways_of_both_groups_under_one_name if {
	k8s := fx.k8s_gateway("istio-system", "gw", {})
	istio := fx.gateway("istio-system", "gw", {})
	registry.gateway("istio-system", "gw") == 1 with input as fx.mesh([k8s, istio, istio])
	registry.kubernetes_gateway("istio-system", "gw") == 0 with input as fx.mesh([k8s, istio, k8s])
	registry.gateway("istio-system", "gw") == 0 with input as fx.mesh([istio, k8s])
	registry.kubernetes_gateway("istio-system", "gw") == 1 with input as fx.mesh([istio, k8s])
}

# Other API groups and unserved versions of the kind Gateway are neither.
test_gateways_of_other_groups_and_versions if {
	doc := fx.mesh([
		fx.k8s_object("gateway.networking.k8s.io/v1alpha2", "Gateway", "a", "old", {}),
		fx.k8s_object("example.io/v1", "Gateway", "a", "other", {}),
		fx.k8s_gateway("a", "", {}),
	])
	not registry.gateway_exists("a", "old") with input as doc
	not registry.gateway_exists("a", "other") with input as doc
	not registry.gateway_exists("a", "") with input as doc
}

# The gateway whose hosts a binding is matched against: Istio's when readable, else the
# Gateway API one of the same name.
test_bound_gateway if {
	doc := fx.mesh([
		fx.gateway("a", "istio", {}),
		fx.gateway("a", "both", {"servers": "garbage"}),
		fx.k8s_gateway("a", "both", {}),
		fx.gateway("a", "broken", {"servers": [{"hosts": [1]}]}),
	])
	registry.bound_gateway("a", "istio") == 0 with input as doc
	registry.bound_gateway("a", "both") == 2 with input as doc
	not registry.bound_gateway("a", "broken") with input as doc
	not registry.bound_gateway("a", "gone") with input as doc
}

listeners := fx.mesh([
	fx.k8s_gateway("a", "named", {"listeners": [{"hostname": "*.example.com"}, {"hostname": "api.example.org"}]}),
	fx.k8s_gateway("a", "open", {"listeners": [{"hostname": "x.example.com"}, {"name": "http"}]}),
	fx.k8s_gateway("a", "odd", {"listeners": ["x", {"hostname": ""}, {"hostname": 3}]}),
	fx.k8s_gateway("a", "none", {"listeners": "x"}),
	fx.k8s_gateway("a", "empty", {}),
])

test_listener_hosts if {
	registry.listener_hosts(0) == ["*.example.com", "api.example.org"] with input as listeners
	registry.listener_hosts(1) == ["x.example.com", "*"] with input as listeners
	registry.listener_hosts(2) == ["*", "*", "*"] with input as listeners
	registry.listener_hosts(3) == [] with input as listeners
	registry.listener_hosts(4) == [] with input as listeners
}

test_a_gateway_api_gateway_admits_its_listeners_hostnames if {
	registry.admits(0, "shop", "a.example.com") with input as listeners
	registry.admits(0, "shop", "api.example.org") with input as listeners
	registry.admits(0, "shop", "*.example.com") with input as listeners
	registry.admits(0, "shop", "*.org") with input as listeners
	registry.admits(0, "shop", "*") with input as listeners
	not registry.admits(0, "shop", "example.com") with input as listeners
	not registry.admits(0, "shop", "*.example.net") with input as listeners
	registry.admits(1, "shop", "anything.io") with input as listeners
	registry.admits(2, "shop", "anything.io") with input as listeners
	not registry.admits(3, "shop", "anything.io") with input as listeners
	not registry.admits(4, "shop", "*") with input as listeners
}

test_server_hosts if {
	registry.server_hosts(0) == ["*.example.com", "./internal.example.org", "web/admin.example.net"] with input as gateways
	registry.server_hosts(1) == [] with input as gateways
	registry.server_hosts(0) == ["*.example.com", "api.example.org"] with input as listeners
	registry.server_hosts(3) == ["*"] with input as listeners
}

test_a_malformed_wildcard_rule_makes_the_hosts_it_covers_unknown if {
	doc := fx.mesh([fx.dr("shop", "all", {"host": "*.shop.svc.cluster.local", "subsets": {"v1": {}}})])
	registry.unknown_rule("reviews.shop.svc.cluster.local") with input as doc
	not registry.unknown_rule("reviews.web.svc.cluster.local") with input as doc
}

test_scoped_subsets_by_namespace if {
	doc := fx.mesh([
		fx.dr("shop", "a", {"host": "a", "exportTo": [".", "web"], "subsets": [{"name": "v1"}]}),
		fx.dr("shop", "b", {"host": "b.example.org", "exportTo": ["*"], "subsets": [{"name": "v2"}]}),
	])
	scoped := registry.scoped_subsets with input as doc
	scoped == {
		"a.shop.svc.cluster.local|shop|v1", "a.shop.svc.cluster.local|web|v1",
		"shop/a|shop|v1", "shop/a|web|v1",
	}
	"b.example.org|v2" in registry.public_subsets with input as doc
}
