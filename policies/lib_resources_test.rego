package meshrc.lib.resources_test

import data.meshrc.lib.resources as res
import data.meshrc.test.fixtures as fx

snapshot := fx.mesh([
	fx.vs("shop", "a", {}),
	fx.dr("shop", "a", {}),
	fx.service("shop", "a"),
	fx.gateway("istio-system", "gw", {}),
	fx.k8s_object("networking.istio.io/v1alpha3", "VirtualService", "web", "b", {}),
	fx.k8s_object("apps/v1", "Deployment", "shop", "a", {}),
])

test_of_kind_finds_the_kinds_the_pack_reads_through_the_index if {
	of_kind := res.of_kind with input as snapshot
	of_kind.VirtualService == {0, 4}
	of_kind.DestinationRule == {1}
	of_kind.Gateway == {3}
	not of_kind.Service
	not of_kind.Deployment
	count(res.unread_kinds) == 0 with input as snapshot
}

# A Gateway of the Kubernetes Gateway API first under the same name: the index points at
# it, so the snapshot is scanned for Istio Gateways instead (the other kinds still come
# from the index).
test_of_kind_scans_when_the_index_points_at_another_api_group if {
	doc := fx.mesh([
		fx.k8s_gateway("istio-system", "gw", {}),
		fx.gateway("istio-system", "gw", {}),
		fx.vs("shop", "a", {}),
		fx.k8s_gateway("istio-system", "other", {}),
		fx.k8s_object("gateway.networking.k8s.io/v1alpha2", "Gateway", "istio-system", "old", {}),
	])
	res.unread_kinds == {"Gateway"} with input as doc
	of_kind := res.of_kind with input as doc
	of_kind.Gateway == {1}
	of_kind.VirtualService == {2}
	res.kubernetes_gateways == {0, 3} with input as doc
}

test_a_snapshot_that_is_no_list_has_no_gateway_api_gateways if {
	res.kubernetes_gateways == set() with input as {"resources": {"a": fx.k8s_gateway("a", "b", {})}}
}

test_unserved_versions_and_nameless_objects_are_not_read if {
	doc := fx.mesh([
		fx.k8s_object("networking.istio.io/v2", "VirtualService", "shop", "a", {}),
		fx.k8s_object("networking.istio.io/v1", "VirtualService", "shop", "", {}),
	])
	of_kind := res.of_kind with input as doc
	count(object.get(of_kind, "VirtualService", set())) == 0
}

test_accessors_are_defensive if {
	res.spec_of({"spec": "x"}) == {}
	res.spec_of({"spec": {"a": 1}}) == {"a": 1}
	res.namespace_of({"metadata": {"namespace": 3}}) == ""
	res.name_of({}) == ""
	res.object_list(null) == []
	res.object_list([1]) == [1]
	not res.object_list("x")
}

test_finding_has_the_catalogue_severity if {
	f := res.finding("route-timeout-required", fx.vs("shop", "a", {}), "spec.http[0]", "m")
	f == {
		"code": "route-timeout-required",
		"severity": "warning",
		"message": "m",
		"resource": {"kind": "VirtualService", "namespace": "shop", "name": "a"},
		"field": "spec.http[0]",
	}
}

test_rule_label if {
	res.rule_label({"name": "canary"}, 2) == "2 (canary)"
	res.rule_label({}, 2) == "2"
	res.rule_label({"name": ""}, 0) == "0"
}

test_ref_of_an_object_without_a_name if {
	res.ref({"kind": "VirtualService", "metadata": {"namespace": 1}}) == {"kind": "VirtualService", "namespace": "", "name": ""}
}

test_finding_of_a_code_of_your_own if {
	f := res.finding_of("owner-required", "info", fx.vs("shop", "a", {}), "metadata.labels", "m")
	f.severity == "info"
	f.code == "owner-required"
	not res.finding("owner-required", fx.vs("shop", "a", {}), "metadata.labels", "m")
}
