# METADATA
# title: no-wildcard-mesh-host
# description: >-
#   A VirtualService bound to the mesh (no gateways, or "mesh" among them) must not claim
#   the host "*" or a "*." wildcard: every sidecar would route traffic for hosts that this
#   VirtualService does not own.
# custom:
#   meshrc:
#     input_kinds: [VirtualService]
package meshrc.guardrails.wildcard_hosts

import data.meshrc.lib.resources as res
import data.meshrc.lib.routes

findings contains res.finding("no-wildcard-mesh-host", vs, sprintf("spec.hosts[%d]", [h]), message) if {
	some i in data.meshrc.lib.resources.of_kind.VirtualService
	vs := input.resources[i]
	listed := vs.spec.hosts
	is_array(listed)
	some h, host in listed
	is_string(host)
	startswith(host, "*")
	_wildcard(host)
	routes.mesh_bound(vs.spec)
	message := sprintf("host %s is a wildcard bound to the mesh: every sidecar would send traffic for hosts this VirtualService does not own through it; name the hosts, or bind it to a gateway", [host])
}

_wildcard(host) if host == "*"

_wildcard(host) if startswith(host, "*.")
