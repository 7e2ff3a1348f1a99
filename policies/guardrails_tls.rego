# METADATA
# title: dr-tls-disabled
# description: >-
#   A DestinationRule sets tls.mode DISABLE: at the top level, for a port
#   (portLevelSettings), or for a subset (and its portLevelSettings). Traffic to the host
#   then leaves the sidecar in plain text, even with mesh-wide mutual TLS.
# custom:
#   meshrc:
#     input_kinds: [DestinationRule]
package meshrc.guardrails.tls

import data.meshrc.lib.resources as res

findings contains res.finding("dr-tls-disabled", dr, concat("", [entry[1], ".tls.mode"]), message) if {
	some entry in _disabled
	dr := input.resources[entry[0]]
	message := sprintf("tls.mode is DISABLE%s for %s: this traffic leaves the sidecar in plain text, even under mesh-wide mutual TLS", [entry[2], _host(dr.spec)])
}

# _policies: [DestinationRule position, path, where, traffic policy] of the top-level
# policy of each DestinationRule and of each subset that has one (one walk, shared; an
# array: OPA keeps sets ordered, which is slow for elements holding whole policies).
_policies := array.concat(
	[[i, "spec.trafficPolicy", "", policy] |
		some i in data.meshrc.lib.resources.of_kind.DestinationRule
		policy := input.resources[i].spec.trafficPolicy
		is_object(policy)
	],
	[[i, path, where, policy] |
		some i in data.meshrc.lib.resources.of_kind.DestinationRule
		subsets := input.resources[i].spec.subsets
		is_array(subsets)
		some s, subset in subsets
		policy := subset.trafficPolicy
		is_object(policy)
		path := sprintf("spec.subsets[%d].trafficPolicy", [s])
		where := sprintf(" in subset %s", [_subset_name(subset, s)])
	],
)

# _disabled: [position, path of the policy, where] of every policy, or port-level policy,
# with tls.mode DISABLE.
_disabled contains [entry[0], entry[1], entry[2]] if {
	some entry in _policies
	entry[3].tls.mode == "DISABLE"
}

_disabled contains [entry[0], path, where] if {
	some entry in _policies
	settings := entry[3].portLevelSettings
	is_array(settings)
	some p, setting in settings
	setting.tls.mode == "DISABLE"
	path := sprintf("%s.portLevelSettings[%d]", [entry[1], p])
	where := concat("", [entry[2], _on_port(setting)])
}

_on_port(setting) := sprintf(" on port %v", [setting.port.number]) if is_number(setting.port.number)

else := " on a port"

# (else, not "not is_string(subset.name)": OPA hoists the reference out of the negation,
# which then fails when the name is missing.)
_subset_name(subset, index) := subset.name if is_string(subset.name)

else := sprintf("%d", [index])

_host(spec) := spec.host if is_string(spec.host)

else := "its host"
