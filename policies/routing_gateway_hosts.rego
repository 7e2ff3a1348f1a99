# METADATA
# title: gateway-host-mismatch
# description: >-
#   A VirtualService bound (spec.gateways) to an existing Gateway declares a host that no
#   server of that Gateway admits: the host is silently not served there. Server hosts are
#   "ns/host", "./host" (the Gateway's namespace), "*/host" or "host" (any namespace); names
#   match with wildcards either way. Same semantics and field paths as
#   reconciler/checks/gateways.py.
# custom:
#   meshrc:
#     input_kinds: [VirtualService, Gateway]
package meshrc.routing.gateway_hosts

import data.meshrc.lib.hosts
import data.meshrc.lib.registry
import data.meshrc.lib.resources as res

findings contains res.finding("gateway-host-mismatch", vs, sprintf("spec.hosts[%d]", [h]), message) if {
	some i in data.meshrc.lib.resources.of_kind.VirtualService
	vs := input.resources[i]
	bindings := vs.spec.gateways
	is_array(bindings)
	some g, reference in bindings
	is_string(reference)
	reference != "mesh"
	namespace := vs.metadata.namespace
	gateway := hosts.gateway_ref(reference, namespace)
	served := registry.gateway(gateway[0], gateway[1])
	registry.well_formed_gateway(served)
	vs_hosts := vs.spec.hosts
	is_array(vs_hosts)
	some h, host in vs_hosts
	is_string(host)
	not registry.admits(served, namespace, hosts.fqdn(host, namespace))
	message := sprintf(
		"host %s is bound to gateway %s/%s (gateways[%d]), but no server of it admits this host from namespace %s (server hosts: %s)",
		[host, gateway[0], gateway[1], g, namespace, _server_hosts(served)],
	)
}

_server_hosts(i) := concat(", ", sort(listed)) if {
	listed := {server_host |
		some server in input.resources[i].spec.servers
		some server_host in server.hosts
	}
	count(listed) > 0
} else := "none"
