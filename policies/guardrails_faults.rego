# METADATA
# title: no-fault-injection
# description: >-
#   No fault injection (spec.http[i].fault) in a production namespace, one of
#   data.meshrc.params.production_namespaces (default production, prod).
# custom:
#   meshrc:
#     input_kinds: [VirtualService]
package meshrc.guardrails.faults

import data.meshrc.lib.resources as res

findings contains res.finding("no-fault-injection", vs, sprintf("spec.http[%d].fault", [index]), message) if {
	some i in data.meshrc.lib.resources.of_kind.VirtualService
	vs := input.resources[i]
	namespace := vs.metadata.namespace
	namespace in data.meshrc.lib.params.production_namespaces
	rules := vs.spec.http
	is_array(rules)
	some index, rule in rules
	is_object(rule)
	object.get(rule, "fault", null) != null
	message := sprintf("http rule %s injects faults in the production namespace %s: real users would get the delays and errors", [res.rule_label(rule, index), namespace])
}
