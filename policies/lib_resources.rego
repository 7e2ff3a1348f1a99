# METADATA
# title: The objects of the snapshot, and findings about them
# description: >-
#   Which objects of input.resources the pack reads (by kind, like the Python checks: Istio
#   networking kinds at a served version, core v1 Services; named objects only), safe
#   accessors for possibly invalid objects, and the finding constructor.
# custom:
#   meshrc:
#     input_kinds: [VirtualService, DestinationRule, Gateway, ServiceEntry, Service]
package meshrc.lib.resources

istio_api_versions := {
	"networking.istio.io/v1",
	"networking.istio.io/v1beta1",
	"networking.istio.io/v1alpha3",
}

istio_kinds := {"VirtualService", "DestinationRule", "Gateway", "ServiceEntry"}

# The catalogue's severities (reconciler/codes.py) of the codes the pack emits.
severities := {
	"subset-not-found": "error",
	"weights-not-100": "error",
	"weights-zero": "error",
	"gateway-not-found": "error",
	"gateway-host-mismatch": "error",
	"route-timeout-required": "warning",
	"retries-max": "error",
	"no-fault-injection": "error",
	"no-wildcard-mesh-host": "error",
	"dr-tls-disabled": "warning",
}

# of_kind[kind]: positions in input.resources of the objects of each kind the pack reads,
# shared (memoized) by every rule of one evaluation. Found through input.index, which
# holds one position per kind, namespace and name (the first object of that name). Only
# when the index points at an object the pack does not read (another API group for the
# same kind: a Gateway of the Kubernetes Gateway API, a Knative Service; an unserved
# version; an empty name) is the whole snapshot scanned instead.
#
# Performance note, for this file and the others: OPA evaluates partial object rules with
# many keys (p[k] := v, p[k] contains v) in quadratic time, and regorus evaluates grouping
# comprehensions ({k: {v | ... k ...} | ...}) in quadratic time. The pack therefore builds
# its indexes as plain sets of composite keys ("host|subset"), objects with unique keys,
# and input.index lookups; keyed grouping is only used for a handful of keys.
of_kind := _indexed if count(unread_kinds) == 0

else := _scanned

_indexed := {kind: {i | some by_name in by_namespace; some i in by_name} |
	some kind in read_kinds
	by_namespace := _index(kind)
}

_scanned := {kind: {i | some i, r in input.resources; r.kind == kind; _reads(r)} | some kind in read_kinds} if {
	count(unread_kinds) > 0
	is_array(input.resources)
}

# _index(kind): input.index[kind], with only the per-namespace entries that are mappings.
_index(kind) := {ns: by_name |
	some ns, by_name in by_namespace
	is_object(by_name)
} if {
	by_namespace := input.index[kind]
	is_object(by_namespace)
} else := {}

read_kinds := istio_kinds | {"Service"}

# unread_kinds: kinds whose index points at an object the pack does not read.
unread_kinds contains kind if {
	some kind in istio_kinds
	some by_name in _index(kind)
	some i in by_name
	not input.resources[i].apiVersion in istio_api_versions
}

unread_kinds contains "Service" if {
	some by_name in _index("Service")
	some i in by_name
	input.resources[i].apiVersion != "v1"
}

unread_kinds contains kind if {
	some kind in read_kinds
	some by_name in _index(kind)
	by_name[""]
}

_reads(r) if {
	r.apiVersion in istio_api_versions
	r.kind in istio_kinds
	_named(r)
}

_reads(r) if {
	r.apiVersion == "v1"
	r.kind == "Service"
	_named(r)
}

_named(r) if {
	name := r.metadata.name
	is_string(name)
	name != ""
}

# spec_of(r): the spec of r, {} when absent or not a mapping.
spec_of(r) := s if {
	s := r.spec
	is_object(s)
} else := {}

namespace_of(r) := ns if {
	ns := r.metadata.namespace
	is_string(ns)
} else := ""

name_of(r) := n if {
	n := r.metadata.name
	is_string(n)
} else := ""

# object_list(x): x if it is an array, [] if it is absent or null (undefined otherwise).
object_list(x) := x if is_array(x)

else := [] if x == null

# rule_label(rule, index): "2 (name)" or "2", how messages name an http/tls/tcp rule.
rule_label(rule, index) := sprintf("%d (%s)", [index, rule.name]) if {
	is_string(rule.name)
	rule.name != ""
} else := sprintf("%d", [index])

ref(r) := {"kind": r.kind, "namespace": r.metadata.namespace, "name": r.metadata.name} if {
	is_string(r.metadata.namespace)
	is_string(r.metadata.name)
} else := {"kind": r.kind, "namespace": namespace_of(r), "name": name_of(r)}

# finding(code, r, field, message): the decision object meshrc reads from `findings`, for
# a code of the catalogue (its severity from `severities`).
finding(code, r, field, message) := finding_of(code, severities[code], r, field, message)

# finding_of(code, severity, r, field, message): the same for a code of your own.
finding_of(code, severity, r, field, message) := {
	"code": code,
	"severity": severity,
	"message": message,
	"resource": ref(r),
	"field": field,
}
