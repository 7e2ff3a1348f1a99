# METADATA
# title: Shared walks of the VirtualServices
# description: >-
#   The rules of every VirtualService, walked once per evaluation and shared by the
#   packages (the Rego twin of reconciler/checks/walk.py). Rules that are not mappings,
#   and rule lists that are not lists, are skipped, never an error.
# custom:
#   meshrc:
#     input_kinds: [VirtualService]
package meshrc.lib.routes

# all_rules: [VirtualService position, its namespace, protocol, rule index, rule] for every
# http, tls and tcp rule of every VirtualService: the rule at spec.<protocol>[<index>].
all_rules := [[i, namespace, protocol, index, rule] |
	some i in data.meshrc.lib.resources.of_kind.VirtualService
	vs := input.resources[i]
	namespace := vs.metadata.namespace
	spec := vs.spec
	some protocol in ["http", "tls", "tcp"]
	listed := spec[protocol]
	is_array(listed)
	some index, rule in listed
	is_object(rule)
]

# mesh_bound(spec): the VirtualService applies to the sidecars: no gateways (unset, null
# or empty), or "mesh" among them.
mesh_bound(spec) if {
	is_object(spec)
	object.get(spec, "gateways", null) == null
}

mesh_bound(spec) if spec.gateways == []

mesh_bound(spec) if {
	listed := spec.gateways
	is_array(listed)
	"mesh" in listed
}
