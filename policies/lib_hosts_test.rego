package meshrc.lib.hosts_test

import data.meshrc.lib.hosts

test_fqdn_expands_short_names_in_the_namespace if {
	hosts.fqdn("reviews", "shop") == "reviews.shop.svc.cluster.local"
}

test_fqdn_keeps_names_with_a_dot_wildcards_and_ips if {
	hosts.fqdn("reviews.shop", "web") == "reviews.shop"
	hosts.fqdn("api.example.org", "web") == "api.example.org"
	hosts.fqdn("*", "web") == "*"
	hosts.fqdn("*.example.org", "web") == "*.example.org"
	hosts.fqdn("10.0.0.1", "web") == "10.0.0.1"
	hosts.fqdn("::1", "web") == "::1"
}

test_fqdn_of_a_non_string_is_undefined if {
	not hosts.fqdn(7, "shop")
	not hosts.fqdn(null, "shop")
	not hosts.fqdn("reviews", 7)
}

test_covers if {
	hosts.covers("a.example.com", "a.example.com")
	hosts.covers("*", "anything.at.all")
	hosts.covers("*.example.com", "a.example.com")
	hosts.covers("*.example.com", "a.b.example.com")
	hosts.covers("*.example.com", "*.a.example.com")
	not hosts.covers("*.example.com", "example.com")
	not hosts.covers("a.example.com", "*.example.com")
	not hosts.covers("a.example.com", "b.example.com")
	not hosts.covers(1, "a")
}

test_intersects_either_way if {
	hosts.intersects("*.example.com", "a.example.com")
	hosts.intersects("a.example.com", "*.example.com")
	hosts.intersects("*", "x.y")
	not hosts.intersects("a.example.com", "a.example.org")
}

test_covering_wildcards_are_all_the_covering_patterns if {
	hosts.covering_wildcards("a.bc") == {"*", "*.bc", "*bc", "*c"}
	hosts.covering_wildcards("a") == {"*"}
	every pattern in hosts.covering_wildcards("x.shop.svc.cluster.local") {
		hosts.covers(pattern, "x.shop.svc.cluster.local")
	}
}

test_visible if {
	hosts.visible(null, "shop", "web")
	hosts.visible([], "shop", "web")
	hosts.visible(["*"], "shop", "web")
	hosts.visible(["."], "shop", "shop")
	not hosts.visible(["."], "shop", "web")
	hosts.visible([".", "web"], "shop", "web")
	not hosts.visible(["~"], "shop", "shop")
	not hosts.visible(["mobile"], "shop", "web")
}

test_gateway_references if {
	hosts.gateway_ref("istio-system/public", "web") == ["istio-system", "public"]
	hosts.gateway_ref("./public", "web") == ["web", "public"]
	hosts.gateway_ref("public", "web") == ["web", "public"]
	hosts.gateway_ref("public.istio-system", "web") == ["istio-system", "public"]
	hosts.gateway_ref("public.istio-system.svc.cluster.local", "web") == ["istio-system", "public"]
	not hosts.gateway_ref(3, "web")
}

test_legacy_gateway_reference if {
	hosts.legacy_gateway_ref("public.istio-system")
	not hosts.legacy_gateway_ref("istio-system/public")
	not hosts.legacy_gateway_ref("public")
}

test_split_server_host if {
	hosts.split_server_host("*.example.com", "istio-system") == ["*", "*.example.com"]
	hosts.split_server_host("web/a.example.com", "istio-system") == ["web", "a.example.com"]
	hosts.split_server_host("./a.example.com", "istio-system") == ["istio-system", "a.example.com"]
	hosts.split_server_host("*/a.example.com", "istio-system") == ["*", "a.example.com"]
	not hosts.split_server_host(["a"], "istio-system")
}
