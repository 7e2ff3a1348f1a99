# METADATA
# title: Lookups in the snapshot, as istiod resolves names
# description: >-
#   The DestinationRules that apply to a host for a client namespace, and Gateways (Istio's
#   and the Kubernetes Gateway API's) by name with the hosts they admit: the Rego twin of
#   the indexes of reconciler/model/snapshot.py. Gateways are found by name through
#   input.index; the other indexes are sets of composite keys ("host|namespace|subset"),
#   computed once per evaluation and only when a rule needs them, so that no lookup scans
#   the snapshot (see the performance note in lib_resources.rego). Rules of other packages
#   are referenced by their full data path: regorus evaluates a whole imported package when
#   a rule is reached through its import.
# custom:
#   meshrc:
#     input_kinds: [DestinationRule, Gateway]
package meshrc.lib.registry

import data.meshrc.lib.hosts

# --------------------------------------------------------------------------- visibility

# exported(owner_namespace, export_to): "*" when a resource with this exportTo is seen from
# every namespace, else each namespace that sees it ("." is the owner's namespace; "~" and
# non-strings are nobody).
exported(owner, export_to) := {"*"} if not is_array(export_to)

else := {"*"} if count(export_to) == 0

else := {"*"} if "*" in export_to

else := {_target(owner, target) | some target in export_to; is_string(target); target != "~"}

_target(owner, ".") := owner

_target(_, target) := target if target != "."

# export_to(spec): the exportTo list of an Istio spec ([] when unset: everywhere).
export_to(spec) := listed if {
	listed := spec.exportTo
	is_array(listed)
} else := []

# --------------------------------------------------------------------------- DestinationRules

# rule_hosts: {position: host} of the DestinationRules with a host, expanded in the rule's
# namespace.
rule_hosts := {i: host |
	some i in data.meshrc.lib.resources.of_kind.DestinationRule
	r := input.resources[i]
	host := hosts.fqdn(r.spec.host, r.metadata.namespace)
	host != ""
}

# subset_names(i): the subset names of DestinationRule i; undefined when its subsets are
# malformed (not a list, or an entry without a string name): then they are unknown, as
# those of a DestinationRule that fails validation in the Python checks.
subset_names(i) := {s.name | some s in listed} if {
	spec := input.resources[i].spec
	is_object(spec)
	listed := _list_or_empty(object.get(spec, "subsets", null))
	every s in listed {
		is_string(s.name)
	}
}

_list_or_empty(x) := x if is_array(x)

else := [] if x == null

# rule_scope(i): the namespaces that see DestinationRule i ("*": every namespace).
rule_scope(i) := exported(input.resources[i].metadata.namespace, export_to(input.resources[i].spec))

# _rules: [position, host, subset names ("?" when malformed), scope] of every
# DestinationRule with a host: what the indexes below are built from, computed once.
_rules := [[i, host, names, rule_scope(i)] |
	some i, host in rule_hosts
	names := _names_or_unknown(i)
]

_names_or_unknown(i) := names if {
	names := subset_names(i)
} else := "?"

# _rule_keys: "host|namespace" for every well-formed DestinationRule, by the namespaces
# that see it; _subset_keys: "host|namespace|subset" for each of its subsets.
_rule_keys contains concat("|", [rule[1], namespace]) if {
	some rule in _rules
	is_set(rule[2])
	some namespace in rule[3]
}

_subset_keys contains concat("|", [rule[1], namespace, name]) if {
	some rule in _rules
	is_set(rule[2])
	some name in rule[2]
	some namespace in rule[3]
}

_rule_wildcards contains rule[1] if {
	some rule in _rules
	is_set(rule[2])
	startswith(rule[1], "*")
}

# public_subsets: "host|subset" for each subset of a DestinationRule that every namespace
# sees, by expanded host and, for hosts "name.ns.svc.cluster.local", by "ns/name" (the
# expansion of the short name "name" in "ns"); scoped_subsets: "host|namespace|subset" the
# same way for DestinationRules exported to some namespaces only. The fast path: a subset
# found in either for the client's namespace is defined, with no expansion, visibility or
# wildcard resolution per destination.
public_subsets contains concat("|", [key, subset_name]) if {
	some i in data.meshrc.lib.resources.of_kind.DestinationRule
	r := input.resources[i]
	spec := r.spec
	not spec.exportTo
	subsets := spec.subsets
	is_array(subsets)
	host := hosts.fqdn(spec.host, r.metadata.namespace)
	some key in _public_keys(host)
	some subset in subsets
	subset_name := subset.name
	is_string(subset_name)
}

public_subsets contains concat("|", [key, subset_name]) if {
	some entry in _exported_rules
	entry[2] == {"*"}
	some key in entry[1]
	some subset_name in entry[3]
}

scoped_subsets contains concat("|", [key, namespace, subset_name]) if {
	some entry in _exported_rules
	entry[2] != {"*"}
	some namespace in entry[2]
	some key in entry[1]
	some subset_name in entry[3]
}

# _exported_rules: [position, keys of its host, scope, subset names] of every
# DestinationRule with an exportTo list.
_exported_rules := [[i, _public_keys(host), exported(r.metadata.namespace, listed), names] |
	some i in data.meshrc.lib.resources.of_kind.DestinationRule
	r := input.resources[i]
	listed := r.spec.exportTo
	is_array(listed)
	subsets := r.spec.subsets
	is_array(subsets)
	host := hosts.fqdn(r.spec.host, r.metadata.namespace)
	names := {name | some subset in subsets; name := subset.name; is_string(name)}
]

_public_keys(host) := {host, concat("/", [parts[1], parts[0]])} if {
	endswith(host, ".svc.cluster.local")
	parts := split(host, ".")
	count(parts) == 5
} else := {host}

# unknown_rule(host): a malformed DestinationRule may define the subsets of host.
unknown_rule(host) if host in _unknown_rule_hosts

unknown_rule(host) if {
	some pattern in _unknown_rule_hosts
	startswith(pattern, "*")
	hosts.covers(pattern, host)
}

_unknown_rule_hosts contains rule[1] if {
	some rule in _rules
	rule[2] == "?"
}

# applied_host(host, client_namespace): the host of the DestinationRules that apply to
# host for a client in the namespace, as istiod picks them: host itself when a rule with
# exactly this host is visible, else the most specific (longest) visible wildcard covering
# it; undefined when no DestinationRule applies.
applied_host(host, client) := host if {
	_rule_visible(host, client)
} else := pattern if {
	count(_rule_wildcards) > 0
	candidates := {p |
		some p in hosts.covering_wildcards(host)
		p in _rule_wildcards
		_rule_visible(p, client)
	}
	count(candidates) > 0
	longest := max({count(p) | some p in candidates})
	some pattern in candidates
	count(pattern) == longest
}

_rule_visible(host, _) if concat("|", [host, "*"]) in _rule_keys

_rule_visible(host, client) if concat("|", [host, client]) in _rule_keys

# defined(subset, host, client_namespace): a DestinationRule that applies to host for the
# client defines subset.
defined(subset, host, client) if {
	applied := applied_host(host, client)
	_subset_visible(applied, client, subset)
}

_subset_visible(host, _, subset) if concat("|", [host, "*", subset]) in _subset_keys

_subset_visible(host, client, subset) if concat("|", [host, client, subset]) in _subset_keys

# rule_sees(i, client_namespace): DestinationRule i is exported to the namespace.
rule_sees(i, client) if {
	some namespace in rule_scope(i)
	namespace in {"*", client}
}

# --------------------------------------------------------------------------- Gateways

# gateway(namespace, name): the position of the Istio Gateway of that name (the first one:
# meshrc keeps the first of an object declared twice).
gateway(namespace, name) := i if {
	i := input.index.Gateway[namespace][name]
	i in data.meshrc.lib.resources.of_kind.Gateway
} else := _istio_gateways[_gateway_key(namespace, name)] if {
	"Gateway" in data.meshrc.lib.resources.unread_kinds
}

# kubernetes_gateway(namespace, name): the position of the Gateway of the Kubernetes Gateway
# API of that name, to which a VirtualService may bind as istiod allows.
kubernetes_gateway(namespace, name) := _kubernetes_gateways[_gateway_key(namespace, name)]

# gateway_exists(namespace, name): a VirtualService may name it in its gateways: an Istio
# Gateway (readable or not) or a Gateway API Gateway.
gateway_exists(namespace, name) if gateway(namespace, name)

gateway_exists(namespace, name) if kubernetes_gateway(namespace, name)

# bound_gateway(namespace, name): the gateway whose hosts a VirtualService bound to
# namespace/name is matched against: the Istio Gateway of that name when its servers can
# be read, else the Gateway API Gateway of that name; undefined when neither.
bound_gateway(namespace, name) := i if {
	i := gateway(namespace, name)
	well_formed_gateway(i)
} else := kubernetes_gateway(namespace, name)

_istio_gateways := _first_by_name(data.meshrc.lib.resources.of_kind.Gateway)

_kubernetes_gateways := _first_by_name(data.meshrc.lib.resources.kubernetes_gateways)

# _first_by_name(positions): {"namespace/name": position} of the first object of each name
# among positions (sorted pairs, then the first of each run: no grouping comprehension).
_first_by_name(positions) := {pair[0]: pair[1] |
	some n, pair in pairs
	_first_of_run(pairs, n)
} if {
	pairs := sort([[key, i] |
		some i in positions
		r := input.resources[i]
		key := _gateway_key(r.metadata.namespace, r.metadata.name)
	])
}

_first_of_run(_, n) if n == 0

_first_of_run(pairs, n) if pairs[n - 1][0] != pairs[n][0]

_gateway_key(namespace, name) := concat("/", [namespace, name]) if {
	is_string(namespace)
	is_string(name)
}

# well_formed_gateway(i): the servers of Istio Gateway i can be read: unset, or a list of
# mappings whose hosts are lists of strings.
well_formed_gateway(i) if i in _well_formed_gateways

_well_formed_gateways contains i if {
	some i in data.meshrc.lib.resources.of_kind.Gateway
	spec := input.resources[i].spec
	is_object(spec)
	servers := _list_or_empty(object.get(spec, "servers", null))
	every server in servers {
		is_array(server.hosts)
		every host in server.hosts {
			is_string(host)
		}
	}
}

# listener_hosts(i): the hostname of each listener of Gateway API Gateway i, "*" for a
# listener without one (it takes every host); [] when its listeners are not a list.
listener_hosts(i) := [_listener_host(listener) | some listener in listeners] if {
	listeners := input.resources[i].spec.listeners
	is_array(listeners)
} else := []

_listener_host(listener) := hostname if {
	is_object(listener)
	hostname := listener.hostname
	is_string(hostname)
	hostname != ""
} else := "*"

# admits(i, vs_namespace, host): gateway i admits host (a VirtualService host, expanded)
# from a VirtualService of vs_namespace: some host of the gateway and host have a name in
# common ("*.example.com" and "a.example.com", either way). An Istio Gateway's server
# hosts count when their namespace is "*" or vs_namespace; a Gateway API Gateway's
# listener hostnames count for every namespace.
#
# By set intersection, not by comparing names one by one: a gateway host covering host is
# host itself, "*", or "*" followed by a suffix of host that starts at a dot; a host "*.x"
# covers the gateway hosts with the proper suffix ".x" (indexed for each gateway host);
# "*" covers any. Only a wildcard that is not "*" nor starts with "*." ("*x.com", on either
# side) makes the gateway's hosts be compared one by one.
admits(i, vs_namespace, host) if {
	names := _host_index(i)[0]
	covering := _covering(host)
	some pattern in ["*", vs_namespace]
	count(names[pattern] & covering) > 0
}

admits(i, vs_namespace, host) if {
	startswith(host, "*.")
	suffixes := _host_index(i)[1]
	some pattern in ["*", vs_namespace]
	substring(host, 1, -1) in suffixes[pattern]
}

admits(i, vs_namespace, host) if {
	host == "*"
	names := _host_index(i)[0]
	some pattern in ["*", vs_namespace]
	count(names[pattern]) > 0
}

admits(i, vs_namespace, host) if {
	_odd(i, host)
	some entry in _gateway_hosts(i)
	entry[0] in {"*", vs_namespace}
	hosts.intersects(entry[1], host)
}

# _covering(host): the names that cover host when they are a gateway's: host itself, "*",
# and "*" followed by each suffix of host that starts at a dot (not at its first character).
_covering(host) := {host, "*"} | {concat("", ["*", substring(host, k, -1)]) |
	some k in indexof_n(host, ".")
	k > 0
} if is_string(host)

_odd(_, host) if _odd_wildcard(host)

_odd(i, _) if _host_index(i)[2]

_odd_wildcard(name) if {
	startswith(name, "*")
	name != "*"
	not startswith(name, "*.")
}

# _gateway_hosts(i): [namespace pattern, host] of each host of gateway i (an Istio Gateway's
# server hosts, a Gateway API Gateway's listener hostnames for the pattern "*").
_gateway_hosts(i) := [["*", host] | some host in listener_hosts(i)] if {
	_is_kubernetes_gateway(i)
} else := [parts |
	some server in _servers(i)
	some server_host in server.hosts
	parts := hosts.split_server_host(server_host, input.resources[i].metadata.namespace)
]

# _host_index(i): [names, suffixes, odd] of gateway i: {namespace pattern: its hosts},
# {namespace pattern: each proper suffix of its hosts that starts at a dot}, and whether
# it has a wildcard host that is not "*" nor starts with "*.".
_host_index(i) := _kubernetes_host_index[i] if _is_kubernetes_gateway(i)

else := _istio_host_index[i]

_istio_host_index := {i: _indexed_hosts(_gateway_hosts(i)) | some i in _well_formed_gateways}

_kubernetes_host_index := {i: _indexed_hosts(_gateway_hosts(i)) |
	some i in data.meshrc.lib.resources.kubernetes_gateways
}

_indexed_hosts(entries) := [
	{pattern: {entry[1] | some entry in entries; entry[0] == pattern} | some pattern in patterns},
	{pattern: {suffix |
		some entry in entries
		entry[0] == pattern
		some k in indexof_n(entry[1], ".")
		k > 0
		suffix := substring(entry[1], k, -1)
	} |
		some pattern in patterns
	},
	count([entry | some entry in entries; _odd_wildcard(entry[1])]) > 0,
] if {
	patterns := {entry[0] | some entry in entries}
}

# server_hosts(i): the hosts of gateway i as written, sorted, for messages: an Istio
# Gateway's server hosts (each once); a Gateway API Gateway's listener hostnames ("*" for
# a listener without one, and for a Gateway without listeners).
server_hosts(i) := sort(listed) if {
	_is_kubernetes_gateway(i)
	listed := listener_hosts(i)
	count(listed) > 0
} else := ["*"] if {
	_is_kubernetes_gateway(i)
} else := sort({server_host |
	some server in _servers(i)
	some server_host in server.hosts
})

# _servers(i): the servers of Istio Gateway i, when well formed.
_servers(i) := _list_or_empty(object.get(input.resources[i].spec, "servers", null)) if {
	well_formed_gateway(i)
}

_is_kubernetes_gateway(i) if input.resources[i].apiVersion in data.meshrc.lib.resources.gateway_api_versions
