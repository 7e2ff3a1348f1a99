# METADATA
# title: The objects of the snapshot, and findings about them
# description: >-
#   Which objects of input.resources the pack reads (by kind, like the Python checks: Istio
#   networking kinds at a served version, and Gateways of the Kubernetes Gateway API; named
#   objects only), safe accessors for possibly invalid objects, and the finding constructor.
#   The kind name Gateway in input_kinds covers both API groups (meshrc filters the input
#   by kind name): the rules tell them apart by apiVersion.
# custom:
#   meshrc:
#     input_kinds: [VirtualService, DestinationRule, Gateway]
package meshrc.lib.resources

istio_api_versions := {
	"networking.istio.io/v1",
	"networking.istio.io/v1beta1",
	"networking.istio.io/v1alpha3",
}

# The versions of the Kubernetes Gateway API at which meshrc reads a Gateway (the served
# ones of reconciler/model/kinds.py; another version is an unknown-kind error there).
gateway_api_versions := {
	"gateway.networking.k8s.io/v1",
	"gateway.networking.k8s.io/v1beta1",
}

istio_kinds := {"VirtualService", "DestinationRule", "Gateway"}

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

# of_kind[kind]: positions in input.resources of the objects of each kind the pack reads
# (for Gateway: Istio Gateways), shared (memoized) by every rule of one evaluation. Found
# through input.index, which holds one position per kind, namespace and name (the first
# object of that name). Only for a kind whose index points at an object the pack does not
# read there (another API group for the same kind: a Gateway of the Kubernetes Gateway API;
# an unserved version; an empty name) is the whole snapshot scanned instead, once.
#
# Performance note, for this file and the others: OPA evaluates partial object rules with
# many keys (p[k] := v, p[k] contains v) in quadratic time, and regorus evaluates grouping
# comprehensions ({k: {v | ... k ...} | ...}) in quadratic time. The pack therefore builds
# its indexes as plain sets of composite keys ("host|subset"), objects with unique keys,
# and input.index lookups; keyed grouping is only used for a handful of keys.
of_kind := {kind: _positions(kind) | some kind in read_kinds}

_positions(kind) := {i | some by_name in _index(kind); some i in by_name} if {
	not kind in unread_kinds
} else := {i | some i, r in _resources; r.kind == kind; _reads(r)}

# kubernetes_gateways: positions of the Gateways of the Kubernetes Gateway API (at a
# version meshrc reads, named). A scan of the snapshot, made only when a rule asks: when a
# gateway reference names no Istio Gateway.
kubernetes_gateways := {i |
	some i, r in _resources
	r.kind == "Gateway"
	r.apiVersion in gateway_api_versions
	_named(r)
}

_resources := input.resources if is_array(input.resources)

else := []

# _index(kind): input.index[kind], with only the per-namespace entries that are mappings.
_index(kind) := {ns: by_name |
	some ns, by_name in by_namespace
	is_object(by_name)
} if {
	by_namespace := input.index[kind]
	is_object(by_namespace)
} else := {}

read_kinds := istio_kinds

# unread_kinds: kinds whose index points at an object the pack does not read.
unread_kinds contains kind if {
	some kind in read_kinds
	some by_name in _index(kind)
	some i in by_name
	not input.resources[i].apiVersion in istio_api_versions
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
