# METADATA
# title: retries-max
# description: >-
#   An http rule retries at most data.meshrc.params.retries_max times (default 5): retry
#   storms multiply the load on a struggling upstream.
# custom:
#   meshrc:
#     input_kinds: [VirtualService]
package meshrc.guardrails.retries

import data.meshrc.lib.resources as res

findings contains res.finding("retries-max", input.resources[x[0]], sprintf("spec.http[%d].retries.attempts", [x[3]]), message) if {
	some x in data.meshrc.lib.routes.all_rules
	attempts := x[4].retries.attempts
	x[2] == "http"
	is_number(attempts)
	attempts > data.meshrc.lib.params.retries_max
	message := sprintf("http rule %s retries %v times, more than the %v allowed (data.meshrc.params.retries_max)", [res.rule_label(x[4], x[3]), attempts, data.meshrc.lib.params.retries_max])
}
