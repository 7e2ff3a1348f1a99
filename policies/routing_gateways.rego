# METADATA
# title: gateway-not-found
# description: >-
#   A gateway reference of a VirtualService (spec.gateways[k], or a match condition's
#   gateways) other than "mesh" names a Gateway that does not exist. References are
#   "ns/name", "./name" and "name" (the VirtualService's namespace), and the deprecated
#   "name.ns". Same semantics and field paths as reconciler/checks/references.py.
# custom:
#   meshrc:
#     input_kinds: [VirtualService]
package meshrc.routing.gateways

import data.meshrc.lib.hosts
import data.meshrc.lib.registry
import data.meshrc.lib.resources as res

# spec.gateways[0]
findings contains finding if {
	some i in data.meshrc.lib.resources.of_kind.VirtualService
	vs := input.resources[i]
	references := vs.spec.gateways
	is_array(references)
	some g, reference in references
	_missing(reference, vs.metadata.namespace)
	finding := _finding(vs, sprintf("spec.gateways[%d]", [g]), reference)
}

# spec.http[0].match[1].gateways[0] (and tls, tcp)
findings contains finding if {
	some x in data.meshrc.lib.routes.all_rules
	matches := x[4].match
	is_array(matches)
	some m, match in matches
	references := match.gateways
	is_array(references)
	some g, reference in references
	_missing(reference, x[1])
	path := sprintf("spec.%s[%d].match[%d].gateways[%d]", [x[2], x[3], m, g])
	finding := _finding(input.resources[x[0]], path, reference)
}

_missing(reference, namespace) if {
	is_string(reference)
	reference != "mesh"
	gateway := hosts.gateway_ref(reference, namespace)
	not registry.gateway(gateway[0], gateway[1])
}

_finding(vs, path, reference) := res.finding("gateway-not-found", vs, path, message) if {
	gateway := hosts.gateway_ref(reference, vs.metadata.namespace)
	shown := concat("/", gateway)
	message := sprintf("gateway %s does not exist%s", [shown, _written(reference, shown)])
}

# How the reference was written, when that differs from namespace/name.
_written(reference, shown) := "" if reference == shown

else := sprintf(" (referenced as %s)", [reference])
