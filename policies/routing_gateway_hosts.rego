# METADATA
# title: gateway-host-mismatch
# description: >-
#   The hosts of a VirtualService against the gateways it is bound to (spec.gateways), as
#   istioctl's IST0132: a gateway that admits none of the VirtualService's hosts is reported
#   on its spec.gateways entry; and when the bound gateways admit some of its hosts (and it
#   is not bound to the mesh too, which serves any host), each host that none of them
#   admits is reported on its spec.hosts entry: it is silently not served. A gateway is an
#   Istio Gateway (server hosts "ns/host", "./host" for the Gateway's namespace, "*/host" or
#   "host" for any namespace) or a Gateway of the Kubernetes Gateway API (its listeners'
#   hostnames; a listener without one takes every host); names match with wildcards either
#   way. Missing gateways are gateway-not-found, and gateways whose servers cannot be read
#   are skipped. Same semantics, field paths and messages as reconciler/checks/gateways.py.
# custom:
#   meshrc:
#     input_kinds: [VirtualService, Gateway]
package meshrc.routing.gateway_hosts

import data.meshrc.lib.hosts
import data.meshrc.lib.registry
import data.meshrc.lib.resources as res

# spec.gateways[0]: a gateway that admits none of the hosts.
findings contains res.finding("gateway-host-mismatch", vs, sprintf("spec.gateways[%d]", [b[0]]), message) if {
	some c in _checked
	some b in c[1]
	not b[0] in {a[0] | some a in c[2]}
	vs := input.resources[c[0]]
	shown := _strings(vs.spec.hosts)
	count(shown) > 0
	message := sprintf(
		"gateway %s admits none of the hosts (%s) from namespace %s (server hosts: %s)",
		[b[2], concat(", ", shown), vs.metadata.namespace, concat(", ", registry.server_hosts(b[1]))],
	)
}

# spec.hosts[0]: a host that none of the bound gateways admits, when they admit others.
findings contains res.finding("gateway-host-mismatch", vs, sprintf("spec.hosts[%d]", [h]), message) if {
	some c in _checked
	count(c[2]) > 0
	vs := input.resources[c[0]]
	not "mesh" in vs.spec.gateways
	admitted := {a[1] | some a in c[2]}
	some h, host in vs.spec.hosts
	is_string(host)
	not h in admitted
	message := sprintf(
		"host %s is admitted by none of the gateways this VirtualService is bound to (%s): it is not served",
		[host, concat(", ", _strings(vs.spec.gateways))],
	)
}

# _checked: [VirtualService position, bindings, admitted] of each VirtualService bound to a
# gateway whose hosts can be read. bindings: [k, gateway position, "namespace/name"] for
# each such spec.gateways[k] (other than "mesh"); admitted: [k, h] for each host
# spec.hosts[h] that the gateway of spec.gateways[k] admits. An array of small per-VirtualService
# values, not sets of pairs over the whole mesh (OPA keeps large sets ordered).
_checked := [[i, bindings, admitted] |
	some i in data.meshrc.lib.resources.of_kind.VirtualService
	vs := input.resources[i]
	namespace := vs.metadata.namespace
	is_string(namespace)
	references := vs.spec.gateways
	is_array(references)
	bindings := [[k, gateway, concat("/", ref)] |
		some k, reference in references
		is_string(reference)
		reference != "mesh"
		ref := hosts.gateway_ref(reference, namespace)
		gateway := registry.bound_gateway(ref[0], ref[1])
	]
	count(bindings) > 0
	admitted := [[b[0], h] |
		some h, host in _strings_at(vs.spec.hosts)
		expanded := hosts.fqdn(host, namespace)
		some b in bindings
		registry.admits(b[1], namespace, expanded)
	]
]

# _strings_at(x): {index: string} of the strings of the list x.
_strings_at(x) := {k: s | some k, s in x; is_string(s)} if is_array(x)

else := {}

# _strings(x): the strings of the list x, in order.
_strings(x) := [s | some s in x; is_string(s)] if is_array(x)

else := []
