# METADATA
# title: Lookups in the snapshot, as istiod resolves names
# description: >-
#   Hosts traffic can go to (Services, ServiceEntry hosts), the DestinationRules that apply
#   to a host for a client namespace, and Gateways: the Rego twin of the indexes of
#   reconciler/model/snapshot.py. Services and Gateways are found by name through
#   input.index; the other indexes are sets of composite keys ("host|namespace|subset"),
#   computed once per evaluation and only when a rule needs them, so that no lookup scans
#   the snapshot (see the performance note in lib_resources.rego). Rules of other packages
#   are referenced by their full data path: regorus evaluates a whole imported package when
#   a rule is reached through its import.
# custom:
#   meshrc:
#     input_kinds: [DestinationRule, Gateway, Service, ServiceEntry]
package meshrc.lib.registry

import data.meshrc.lib.hosts

export_to_annotation := "networking.istio.io/exportTo"

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

# A Service is exported by the annotation networking.istio.io/exportTo: "a, b".
service_export_to(r) := [target |
	some part in split(value, ",")
	target := trim_space(part)
	target != ""
] if {
	value := r.metadata.annotations[export_to_annotation]
	is_string(value)
} else := []

# --------------------------------------------------------------------------- backends

# has_backend(host, client_namespace): a Service or ServiceEntry visible from the client's
# namespace provides host (a Service "name.ns.svc.cluster.local", a ServiceEntry host,
# else a wildcard ServiceEntry host covering it).
has_backend(host, client) if {
	not "Service" in data.meshrc.lib.resources.unread_kinds
	endswith(host, ".svc.cluster.local")
	parts := split(host, ".")
	count(parts) == 5
	r := input.resources[input.index.Service[parts[1]][parts[0]]]
	hosts.visible(service_export_to(r), parts[1], client)
}

has_backend(host, client) if _backend_visible(host, client)

has_backend(host, client) if {
	count(_backend_wildcards) > 0
	some pattern in hosts.covering_wildcards(host)
	pattern in _backend_wildcards
	_backend_visible(pattern, client)
}

_backend_visible(host, _) if concat("|", [host, "*"]) in _backend_keys

_backend_visible(host, client) if concat("|", [host, client]) in _backend_keys

# _backend_keys: "host|namespace" for every ServiceEntry host (maybe a wildcard) and every
# namespace that sees it ("*": all of them); Services too when input.index cannot be used.
_backend_keys contains concat("|", [host, namespace]) if {
	some i in data.meshrc.lib.resources.of_kind.ServiceEntry
	r := input.resources[i]
	listed := r.spec.hosts
	is_array(listed)
	some namespace in exported(r.metadata.namespace, export_to(r.spec))
	some host in listed
	is_string(host)
	host != ""
}

_backend_keys contains concat("|", [host, namespace]) if {
	"Service" in data.meshrc.lib.resources.unread_kinds
	some i in data.meshrc.lib.resources.of_kind.Service
	r := input.resources[i]
	host := concat(".", [r.metadata.name, r.metadata.namespace, data.meshrc.lib.hosts.cluster_domain])
	some namespace in exported(r.metadata.namespace, service_export_to(r))
}

_backend_wildcards contains host if {
	some i in data.meshrc.lib.resources.of_kind.ServiceEntry
	listed := input.resources[i].spec.hosts
	is_array(listed)
	some host in listed
	is_string(host)
	startswith(host, "*")
}

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

# gateway(namespace, name): the position of the Istio Gateway of that name (a Gateway of
# the Kubernetes Gateway API is another kind of object and does not count).
gateway(namespace, name) := i if {
	not "Gateway" in data.meshrc.lib.resources.unread_kinds
	i := input.index.Gateway[namespace][name]
} else := max({i |
	some i in data.meshrc.lib.resources.of_kind.Gateway
	input.resources[i].metadata.namespace == namespace
	input.resources[i].metadata.name == name
}) if {
	"Gateway" in data.meshrc.lib.resources.unread_kinds
}

# well_formed_gateway(i): the servers of Gateway i can be read: unset, or a list of
# mappings whose hosts are lists of strings.
well_formed_gateway(i) if {
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

# _server_keys: "gateway position|namespace pattern|host" of every server host.
_server_keys contains sprintf("%d|%s|%s", [i, parts[0], parts[1]]) if {
	some i in data.meshrc.lib.resources.of_kind.Gateway
	r := input.resources[i]
	servers := r.spec.servers
	is_array(servers)
	some server in servers
	listed := server.hosts
	is_array(listed)
	some server_host in listed
	parts := hosts.split_server_host(server_host, r.metadata.namespace)
}

# admits(i, vs_namespace, host): some server of Gateway i admits host (a VirtualService
# host, expanded) from a VirtualService of vs_namespace: the server's namespace is "*" or
# vs_namespace, and the two names intersect ("*.example.com" and "a.example.com" either way).
admits(i, vs_namespace, host) if {
	some pattern in {"*", vs_namespace}
	some name in (hosts.covering_wildcards(host) | {host})
	sprintf("%d|%s|%s", [i, pattern, name]) in _server_keys
}

admits(i, vs_namespace, host) if {
	startswith(host, "*")
	some server in input.resources[i].spec.servers
	some server_host in server.hosts
	parts := hosts.split_server_host(server_host, input.resources[i].metadata.namespace)
	parts[0] in {"*", vs_namespace}
	hosts.covers(host, parts[1])
}
