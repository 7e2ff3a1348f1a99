# METADATA
# title: weights-not-100, weights-zero
# description: >-
#   A route with two or more destinations whose weights (a missing weight is 0) add up to
#   0 (weights-zero: no traffic can be routed) or to anything but 100 (weights-not-100).
#   Same semantics and field paths as reconciler/checks/routing.py; a route with a
#   negative or non-numeric weight is left to the schema check.
# custom:
#   meshrc:
#     input_kinds: [VirtualService]
package meshrc.routing.weights

import data.meshrc.lib.resources as res

findings contains res.finding("weights-not-100", vs, path, message) if {
	some entry in _wrong_totals
	total := entry[2]
	total != 0
	vs := input.resources[entry[0]]
	path := sprintf("spec.%s[%d].route", [entry[3], entry[4]])
	message := sprintf("weights add up to %v (%s), not 100", [total, _shown(vs.spec[entry[3]][entry[4]].route)])
}

findings contains res.finding("weights-zero", vs, path, message) if {
	some entry in _wrong_totals
	entry[2] == 0
	vs := input.resources[entry[0]]
	path := sprintf("spec.%s[%d].route", [entry[3], entry[4]])
	message := sprintf("the %d destinations have a total weight of 0: no traffic can be routed", [entry[1]])
}

# _wrong_totals: [vs position, destinations, total, protocol, rule index] of every route of
# 2+ destinations whose weights are numbers >= 0 (missing or null: 0) that do not add up
# to 100. The common case, every weight a number, needs no check per destination.
_wrong_totals contains [x[0], count(route), total, x[2], x[3]] if {
	some x in data.meshrc.lib.routes.all_rules
	route := x[4].route
	is_array(route)
	count(route) > 1
	weights := [w | some entry in route; w := entry.weight; is_number(w)]
	total := sum(weights)
	total != 100
	_valid(route, weights)
}

# _valid(route, weights): the numbers are >= 0, and every other destination is a mapping
# without a weight (or with a null one).
_valid(route, weights) if {
	count(weights) == count(route)
	min(weights) >= 0
}

_valid(route, weights) if {
	count(weights) < count(route)
	every w in weights {
		w >= 0
	}
	every entry in route {
		is_object(entry)
		_weight_or_null(entry)
	}
}

_weight_or_null(entry) if is_number(entry.weight)

_weight_or_null(entry) if object.get(entry, "weight", null) == null

# _shown(route): the weights as written, "80 + 0 + 30".
_shown(route) := concat(" + ", [sprintf("%v", [w]) | some entry in route; w := _weight(entry)])

_weight(entry) := entry.weight if entry.weight != null

else := 0
