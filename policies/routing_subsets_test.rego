package meshrc.routing.subsets_test

import data.meshrc.routing.subsets
import data.meshrc.test.fixtures as fx

base := [
	fx.service("shop", "reviews"),
	fx.dr("shop", "reviews", {"host": "reviews", "subsets": [{"name": "v1"}, {"name": "v2"}]}),
	fx.service("shop", "ratings"),
	fx.dr("shop", "ratings", {"host": "ratings.shop.svc.cluster.local", "exportTo": ["."], "subsets": [{"name": "v1"}]}),
	fx.service("shop", "details"),
]

found(extra) := result if {
	result := fx.keys(subsets.findings) with input as fx.mesh(array.concat(base, extra))
}

field := "spec.http[0].route[0].destination.subset"

test_defined_subsets_short_and_fqdn if {
	found([
		fx.routing("shop", "a", fx.dest("reviews", "v1")),
		fx.routing("web", "b", fx.dest("reviews.shop.svc.cluster.local", "v2")),
		fx.routing("shop", "c", fx.dest("ratings", "v1")),
		fx.routing("shop", "d", {"host": "reviews"}),
	]) == set()
}

test_undefined_subset_short_name if {
	found([fx.routing("shop", "a", fx.dest("reviews", "v3"))]) == {["subset-not-found", "shop", "a", field]}
}

test_undefined_subset_fqdn_from_another_namespace if {
	found([fx.routing("web", "a", fx.dest("reviews.shop.svc.cluster.local", "v9"))]) == {["subset-not-found", "web", "a", field]}
}

test_a_rule_exported_only_to_its_namespace_defines_nothing_elsewhere if {
	found([fx.routing("web", "a", fx.dest("ratings.shop.svc.cluster.local", "v1"))]) == {["subset-not-found", "web", "a", field]}
}

test_no_rule_for_the_host if {
	found([fx.routing("shop", "a", fx.dest("details", "v1"))]) == {["subset-not-found", "shop", "a", field]}
}

test_a_wildcard_rule_defines_subsets if {
	wildcard := fx.dr("shop", "all", {"host": "*.shop.svc.cluster.local", "subsets": [{"name": "w"}]})
	found([wildcard, fx.routing("shop", "a", fx.dest("details", "w"))]) == set()
	found([wildcard, fx.routing("shop", "a", fx.dest("details", "v1"))]) == {["subset-not-found", "shop", "a", field]}
}

# A host no Service provides still gets subset-not-found (istioctl reports both); wildcard
# hosts and hosts whose DestinationRule has malformed subsets do not.
test_hosts_without_service_are_checked_wildcards_and_malformed_rules_are_skipped if {
	found([
		fx.routing("web", "a", fx.dest("reviews", "v1")), # reviews.web: no Service
		fx.routing("shop", "b", fx.dest("reviews.shop", "v1")), # taken as written
		fx.routing("shop", "c", fx.dest("*.shop.svc.cluster.local", "v1")),
		fx.dr("shop", "details", {"host": "details", "subsets": "garbage"}),
		fx.routing("shop", "d", fx.dest("details", "v1")),
		fx.routing("shop", "e", fx.dest("reviews", "")),
	]) == {["subset-not-found", "web", "a", field], ["subset-not-found", "shop", "b", field]}
}

# A VirtualService exported only to other namespaces is resolved from each of them.
exported(namespace, name, export_to, destination) := object.union(
	fx.routing(namespace, name, destination),
	{"spec": {"exportTo": export_to}},
)

test_client_namespaces_of_export_to if {
	found([
		fx.dr("shop", "scoped", {"host": "scoped.shop.svc.cluster.local", "exportTo": ["web"], "subsets": [{"name": "v1"}]}),
		exported("shop", "own", ["shop", "web"], fx.dest("reviews", "v1")),
		exported("shop", "dot", [".", "web"], fx.dest("ratings", "v1")),
		exported("shop", "all", ["*"], fx.dest("reviews", "v1")),
		exported("shop", "web-only", ["web"], fx.dest("scoped", "v1")),
		exported("shop", "others", ["web", "mobile", "~", 3], fx.dest("scoped", "v1")),
		exported("shop", "others-ratings", ["web", "mobile"], fx.dest("ratings", "v1")),
		exported("shop", "nobody", ["~"], fx.dest("ratings", "v9")),
		exported("shop", "empty", [], fx.dest("ratings", "v9")),
	]) == {
		["subset-not-found", "shop", "others", field],
		["subset-not-found", "shop", "others-ratings", field],
		["subset-not-found", "shop", "empty", field],
	}
}

test_one_message_per_client_namespace if {
	doc := fx.mesh(array.concat(base, [
		fx.dr("web", "reviews-web", {"host": "reviews.shop.svc.cluster.local", "exportTo": ["."], "subsets": [{"name": "w"}]}),
		exported("shop", "a", ["web", "mobile"], fx.dest("reviews", "v9")),
	]))
	messages := {f.message | some f in subsets.findings} with input as doc
	messages == {
		"subset 'v9' is not defined for reviews.shop.svc.cluster.local (DestinationRule shop/reviews, web/reviews-web defines: v1, v2, w)",
		"subset 'v9' is not defined for reviews.shop.svc.cluster.local (DestinationRule shop/reviews defines: v1, v2)",
	}
}

test_mirror_mirrors_tcp_and_tls if {
	spec := {
		"hosts": ["m"],
		"http": [{
			"route": [{"destination": fx.dest("reviews", "v1")}],
			"mirror": fx.dest("reviews", "v8"),
			"mirrors": [{"destination": fx.dest("reviews", "v1")}, {"destination": fx.dest("reviews", "v7")}],
		}],
		"tcp": [fx.route([fx.dest("reviews", "v1"), fx.dest("reviews", "v6")])],
		"tls": [fx.route([fx.dest("reviews", "v5")])],
	}
	found([fx.vs("shop", "m", spec)]) == {
		["subset-not-found", "shop", "m", "spec.http[0].mirror.subset"],
		["subset-not-found", "shop", "m", "spec.http[0].mirrors[1].destination.subset"],
		["subset-not-found", "shop", "m", "spec.tcp[0].route[1].destination.subset"],
		["subset-not-found", "shop", "m", "spec.tls[0].route[0].destination.subset"],
	}
}

test_messages if {
	doc := fx.mesh(array.concat(base, [
		fx.routing("shop", "a", fx.dest("reviews", "v3")),
		fx.routing("shop", "b", fx.dest("details", "v1")),
	]))
	messages := {f.resource.name: f.message | some f in subsets.findings} with input as doc
	messages.a == "subset 'v3' is not defined for reviews.shop.svc.cluster.local (DestinationRule shop/reviews defines: v1, v2)"
	messages.b == "subset 'v1' of details.shop.svc.cluster.local is used, but no DestinationRule defines subsets for it"
}

test_message_when_the_applying_rule_has_no_subsets if {
	doc := fx.mesh(array.concat(base, [
		fx.dr("shop", "details", {"host": "details"}),
		fx.routing("shop", "a", fx.dest("details", "v1")),
	]))
	[f] := [f | some f in subsets.findings] with input as doc
	f.message == "subset 'v1' is not defined for details.shop.svc.cluster.local (DestinationRule shop/details defines: none)"
}
