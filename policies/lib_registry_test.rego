package meshrc.lib.registry_test

import data.meshrc.lib.registry
import data.meshrc.test.fixtures as fx

# --------------------------------------------------------------------------- backends

backends := fx.mesh([
	fx.service("shop", "reviews"),
	fx.with_annotations(fx.service("shop", "private"), {"networking.istio.io/exportTo": ". , web"}),
	fx.service_entry("shop", "api", {"hosts": ["api.example.org"], "exportTo": ["."]}),
	fx.service_entry("shop", "partners", {"hosts": ["*.partner.io"]}),
])

test_services_are_found_by_name if {
	registry.has_backend("reviews.shop.svc.cluster.local", "web") with input as backends
	not registry.has_backend("reviews.web.svc.cluster.local", "web") with input as backends
	not registry.has_backend("reviews.shop", "web") with input as backends
}

test_the_service_export_annotation if {
	registry.has_backend("private.shop.svc.cluster.local", "shop") with input as backends
	registry.has_backend("private.shop.svc.cluster.local", "web") with input as backends
	not registry.has_backend("private.shop.svc.cluster.local", "mobile") with input as backends
}

test_service_entry_hosts_and_their_export if {
	registry.has_backend("api.example.org", "shop") with input as backends
	not registry.has_backend("api.example.org", "web") with input as backends
	registry.has_backend("eu.partner.io", "web") with input as backends
	not registry.has_backend("partner.io", "web") with input as backends
}

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

test_a_gateway_api_gateway_is_not_an_istio_gateway if {
	doc := fx.mesh([
		fx.k8s_object("gateway.networking.k8s.io/v1", "Gateway", "istio-system", "public", {}),
		fx.gateway("istio-system", "other", {}),
	])
	not registry.gateway("istio-system", "public") with input as doc
	registry.gateway("istio-system", "other") == 1 with input as doc
}

# A Knative Service first under the same name: Services are looked up by scanning.
test_services_when_the_index_points_at_another_api_group if {
	doc := fx.mesh([
		fx.k8s_object("serving.knative.dev/v1", "Service", "shop", "reviews", {}),
		fx.service("shop", "reviews"),
		fx.with_annotations(fx.service("shop", "private"), {"networking.istio.io/exportTo": "."}),
	])
	registry.has_backend("reviews.shop.svc.cluster.local", "web") with input as doc
	registry.has_backend("private.shop.svc.cluster.local", "shop") with input as doc
	not registry.has_backend("private.shop.svc.cluster.local", "web") with input as doc
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
