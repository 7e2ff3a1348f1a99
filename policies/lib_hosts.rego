# METADATA
# title: Host names as istiod reads them
# description: >-
#   Short names, wildcards, exportTo visibility, gateway references and gateway server
#   hosts; the Rego twin of reconciler/model/hosts.py. Every function is undefined (never
#   an error) when given something that is not a string where a string is expected.
# custom:
#   meshrc:
#     input_kinds: []
package meshrc.lib.hosts

cluster_domain := "svc.cluster.local"

# qualified(host): a host that istiod takes as written (a dot, the wildcard "*", an IP).
qualified(host) if contains(host, ".")

qualified(host) if host == "*"

qualified(host) if contains(host, ":")

# fqdn(host, namespace): "reviews" -> "reviews.<namespace>.svc.cluster.local"; names with a
# dot, "*" and IP addresses stay as written.
fqdn(host, namespace) := host if {
	is_string(host)
	qualified(host)
} else := concat(".", [host, namespace, cluster_domain]) if {
	is_string(host)
	is_string(namespace)
}

# covers(pattern, host): the name pattern (maybe a "*" wildcard) includes host.
# "*.example.com" covers "a.example.com" and "*.a.example.com", not "example.com".
covers(pattern, host) if {
	is_string(pattern)
	pattern == host
}

covers("*", host) if is_string(host)

covers(pattern, host) if {
	is_string(pattern)
	is_string(host)
	startswith(pattern, "*")
	suffix := substring(pattern, 1, -1)
	endswith(host, suffix)
	count(host) > count(suffix)
}

# intersects(a, b): two names, either maybe a wildcard, have a host in common.
intersects(a, b) if covers(a, b)

intersects(a, b) if covers(b, a)

# covering_wildcards(host): every wildcard pattern that covers host ("*" and "*" + each
# proper suffix of host). Lets a caller look wildcards up by key instead of scanning them all.
covering_wildcards(host) := {concat("", ["*", substring(host, k, -1)]) |
	some k in numbers.range(1, count(host) - 1)
} | {"*"} if {
	is_string(host)
	count(host) > 1
} else := {"*"}

# visible(export_to, owner_namespace, client_namespace): a resource of owner_namespace with
# this exportTo is seen from client_namespace. Unset or empty means everywhere, "." the
# owner's namespace, "*" everywhere, "~" nowhere, anything else a namespace name.
visible(export_to, _, _) if not is_array(export_to)

visible(export_to, _, _) if {
	is_array(export_to)
	count(export_to) == 0
}

visible(export_to, _, _) if {
	is_array(export_to)
	"*" in export_to
}

visible(export_to, owner, client) if {
	is_array(export_to)
	"." in export_to
	owner == client
}

visible(export_to, _, client) if {
	is_array(export_to)
	client in export_to
}

# gateway_ref(reference, namespace): a VirtualService "gateways" entry as [namespace, name].
# "ns/name", "./name" and "name" (the VirtualService's namespace) are current; "name.ns"
# (and "name.ns.svc.cluster.local") is the deprecated form istiod still honours.
gateway_ref(reference, namespace) := [_local(prefix, namespace), name] if {
	is_string(reference)
	contains(reference, "/")
	slash := indexof(reference, "/")
	prefix := substring(reference, 0, slash)
	name := substring(reference, slash + 1, -1)
} else := [parts[1], parts[0]] if {
	is_string(reference)
	parts := split(reference, ".")
	count(parts) > 1
} else := [namespace, reference] if is_string(reference)

# legacy_gateway_ref(reference): the deprecated "name.namespace" form.
legacy_gateway_ref(reference) if {
	is_string(reference)
	not contains(reference, "/")
	contains(reference, ".")
}

# split_server_host(server_host, gateway_namespace): a Gateway server host "[ns/]host" as
# [namespace pattern, host]; no namespace is "*", "." is the gateway's own namespace.
split_server_host(server_host, gateway_namespace) := [_local(prefix, gateway_namespace), host] if {
	is_string(server_host)
	contains(server_host, "/")
	slash := indexof(server_host, "/")
	prefix := substring(server_host, 0, slash)
	host := substring(server_host, slash + 1, -1)
} else := ["*", server_host] if is_string(server_host)

_local(".", namespace) := namespace

_local(prefix, _) := prefix if prefix != "."
