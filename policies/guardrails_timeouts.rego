# METADATA
# title: route-timeout-required
# description: >-
#   Every http rule that forwards traffic (a non-empty route; not a redirect, direct
#   response or delegate) sets a timeout, so that a slow upstream cannot hold its callers.
# custom:
#   meshrc:
#     input_kinds: [VirtualService]
package meshrc.guardrails.timeouts

import data.meshrc.lib.resources as res

findings contains res.finding("route-timeout-required", input.resources[x[0]], sprintf("spec.http[%d]", [x[3]]), message) if {
	some x in data.meshrc.lib.routes.all_rules
	rule := x[4]
	route := rule.route
	object.get(rule, "timeout", null) == null
	x[2] == "http"
	is_array(route)
	count(route) > 0
	object.get(rule, "redirect", null) == null
	object.get(rule, "directResponse", null) == null
	object.get(rule, "delegate", null) == null
	message := sprintf("http rule %s sets no timeout: a slow upstream holds its callers until they give up; set timeout (e.g. 10s)", [res.rule_label(rule, x[3])])
}
