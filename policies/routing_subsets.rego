# METADATA
# title: subset-not-found
# description: >-
#   A route, mirror or mirrors destination names a subset that no DestinationRule for its
#   host, visible from the VirtualService's client namespaces, defines. Same semantics and
#   field paths as reconciler/checks/references.py, as istiod: the host is expanded in the
#   VirtualService's namespace, and the DestinationRules are those visible from each client
#   namespace (the VirtualService's own, or each namespace its exportTo names when that
#   names neither "*", "." nor its own namespace), one finding per client namespace that
#   lacks the subset. A host that no Service or ServiceEntry provides still gets the
#   finding (next to the Python host-not-found, as istioctl reports both); wildcard hosts
#   and hosts whose DestinationRule has malformed subsets are skipped.
#
#   Each walk first tries the fast path inline (a subset of an exact-host DestinationRule
#   exported to the client namespace, looked up by the host as written or by
#   namespace/short name); only the destinations it does not settle get the full
#   resolution of _missing.
# custom:
#   meshrc:
#     input_kinds: [VirtualService, DestinationRule]
package meshrc.routing.subsets

import data.meshrc.lib.hosts
import data.meshrc.lib.registry
import data.meshrc.lib.resources as res

findings contains res.finding("subset-not-found", vs, path, message) if {
	some ref in _missing_refs
	vs := input.resources[ref[0]]
	path := ref[1]
	message := _message(ref[2], ref[3], ref[4])
}

# _missing_refs: [VirtualService position, field path, subset, host (expanded), client
# namespace] of every destination whose subset a client namespace does not see defined.

# Route destinations of http, tls and tcp rules: spec.http[0].route[1].destination.subset
_missing_refs contains [x[0], path, subset, host, client] if {
	public := data.meshrc.lib.registry.public_subsets
	scoped := data.meshrc.lib.registry.scoped_subsets
	some x in data.meshrc.lib.routes.all_rules
	route := x[4].route
	is_array(route)
	some d, entry in route
	destination := entry.destination
	subset := destination.subset
	is_string(subset)
	raw := destination.host
	is_string(raw)
	namespace := x[1]
	not concat("|", [raw, subset]) in public
	not concat("", [namespace, "/", raw, "|", subset]) in public
	some client in object.get(_exported_clients, x[0], [namespace])
	not concat("|", [raw, client, subset]) in scoped
	not concat("", [namespace, "/", raw, "|", client, "|", subset]) in scoped
	host := _missing(subset, raw, namespace, client)
	path := sprintf("spec.%s[%d].route[%d].destination.subset", [x[2], x[3], d])
}

# spec.http[0].mirror.subset
_missing_refs contains [x[0], path, subset, host, client] if {
	public := data.meshrc.lib.registry.public_subsets
	scoped := data.meshrc.lib.registry.scoped_subsets
	some x in data.meshrc.lib.routes.all_rules
	destination := x[4].mirror
	x[2] == "http"
	subset := destination.subset
	is_string(subset)
	raw := destination.host
	is_string(raw)
	namespace := x[1]
	not concat("|", [raw, subset]) in public
	not concat("", [namespace, "/", raw, "|", subset]) in public
	some client in object.get(_exported_clients, x[0], [namespace])
	not concat("|", [raw, client, subset]) in scoped
	not concat("", [namespace, "/", raw, "|", client, "|", subset]) in scoped
	host := _missing(subset, raw, namespace, client)
	path := sprintf("spec.http[%d].mirror.subset", [x[3]])
}

# spec.http[0].mirrors[1].destination.subset
_missing_refs contains [x[0], path, subset, host, client] if {
	public := data.meshrc.lib.registry.public_subsets
	scoped := data.meshrc.lib.registry.scoped_subsets
	some x in data.meshrc.lib.routes.all_rules
	mirrors := x[4].mirrors
	x[2] == "http"
	is_array(mirrors)
	some m, mirror in mirrors
	destination := mirror.destination
	subset := destination.subset
	is_string(subset)
	raw := destination.host
	is_string(raw)
	namespace := x[1]
	not concat("|", [raw, subset]) in public
	not concat("", [namespace, "/", raw, "|", subset]) in public
	some client in object.get(_exported_clients, x[0], [namespace])
	not concat("|", [raw, client, subset]) in scoped
	not concat("", [namespace, "/", raw, "|", client, "|", subset]) in scoped
	host := _missing(subset, raw, namespace, client)
	path := sprintf("spec.http[%d].mirrors[%d].destination.subset", [x[3], m])
}

# _exported_clients: {VirtualService position: client namespaces} of the VirtualServices
# whose exportTo names neither "*", "." nor their own namespace: the namespaces it names
# ("~" is nobody). Any other VirtualService's client namespace is its own.
_exported_clients := {i: clients |
	some i in data.meshrc.lib.resources.of_kind.VirtualService
	vs := input.resources[i]
	targets := vs.spec.exportTo
	is_array(targets)
	count(targets) > 0
	not "*" in targets
	not "." in targets
	not vs.metadata.namespace in targets
	clients := [t | some t in targets; is_string(t); t != "~"]
}

# _missing(subset, host as written, namespace, client): the host expanded in the
# VirtualService's namespace, when the DestinationRules that apply to it for a client in
# the client namespace do not define subset.
_missing(subset, raw, namespace, client) := host if {
	subset != ""
	host := hosts.fqdn(raw, namespace)
	not contains(host, "*")
	not registry.unknown_rule(host)
	not registry.defined(subset, host, client)
}

# _message: the DestinationRules that apply in the order of the files, as the Python check
# names them.
_message(subset, host, client) := sprintf("subset '%s' is not defined for %s (DestinationRule %s defines: %s)", [subset, host, names, defined]) if {
	applied := registry.applied_host(host, client)
	rules := {i | some i in _rules_by_host[applied]; registry.rule_sees(i, client)}
	names := concat(", ", [concat("/", [res.namespace_of(r), res.name_of(r)]) |
		some i in sort(rules)
		r := input.resources[i]
	])
	defined := _listed({name | some i in rules; some name in registry.subset_names(i)})
} else := sprintf("subset '%s' of %s is used, but no DestinationRule defines subsets for it", [subset, host])

_listed(names) := concat(", ", sort(names)) if count(names) > 0

else := "none"

# _rules_by_host[host]: the well-formed DestinationRules of each host that a missing subset
# is resolved against: a few keys (the hosts with findings), so a keyed partial rule, read
# through a complete rule (OPA would otherwise re-run the body for each key it is asked).
_rules_by_host := _rules_by_applied_host

_rules_by_applied_host[host] contains i if {
	some i, host in data.meshrc.lib.registry.rule_hosts
	host in _applied_hosts
	registry.subset_names(i)
}

_applied_hosts contains applied if {
	some ref in _missing_refs
	applied := registry.applied_host(ref[3], ref[4])
}
