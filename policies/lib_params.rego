# METADATA
# title: Parameters of the pack
# description: >-
#   Read from data.meshrc.params (meshrc.yaml "params", or a data.json / data.yaml of a
#   policy folder); a missing or mistyped parameter falls back to its default.
# custom:
#   meshrc:
#     input_kinds: []
package meshrc.lib.params

default_retries_max := 5

default_production_namespaces := {"production", "prod"}

# retries_max: the most retry attempts an http rule may set.
retries_max := n if {
	n := data.meshrc.params.retries_max
	is_number(n)
} else := default_retries_max

# production_namespaces: namespaces where fault injection is forbidden.
production_namespaces := {ns | some ns in listed; is_string(ns)} if {
	listed := data.meshrc.params.production_namespaces
	is_array(listed)
} else := default_production_namespaces
