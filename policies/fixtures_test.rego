# METADATA
# title: Fixtures for the unit tests of the pack
# description: >-
#   Builders of Kubernetes objects and of the input document meshrc gives policies
#   (reconciler/policy/inputs.py), for the *_test.rego files. A _test.rego file: meshrc
#   never loads it, `opa test policies/` does.
package meshrc.test.fixtures

istio := "networking.istio.io/v1"

k8s_object(api, kind, namespace, name, spec) := {
	"apiVersion": api,
	"kind": kind,
	"metadata": {"name": name, "namespace": namespace},
	"spec": spec,
	"source": {"file": "test.yaml", "line": 1},
}

vs(namespace, name, spec) := k8s_object(istio, "VirtualService", namespace, name, spec)

dr(namespace, name, spec) := k8s_object(istio, "DestinationRule", namespace, name, spec)

gateway(namespace, name, spec) := k8s_object(istio, "Gateway", namespace, name, spec)

# k8s_gateway(namespace, name, spec): a Gateway of the Kubernetes Gateway API.
k8s_gateway(namespace, name, spec) := k8s_object("gateway.networking.k8s.io/v1", "Gateway", namespace, name, spec)

service(namespace, name) := k8s_object("v1", "Service", namespace, name, {"ports": [{"port": 9080}]})

# mesh(resources): the input document of a snapshot of these resources, with its index
# {kind: {namespace: {name: position}}} (the first object of each name, as meshrc does).
mesh(resources) := {"resources": resources, "index": _index(resources), "commit": null}

_index(resources) := {kind: {namespace: {name: first |
	some r in resources
	r.kind == kind
	r.metadata.namespace == namespace
	name := r.metadata.name
	first := min({i | some i, s in resources; s.kind == kind; s.metadata.namespace == namespace; s.metadata.name == name})
} |
	some r in resources
	r.kind == kind
	namespace := r.metadata.namespace
} |
	some r in resources
	kind := r.kind
}

# route(destinations): an http/tcp/tls rule sending to these destinations.
route(destinations) := {"route": [{"destination": d} | some d in destinations]}

# dest(host, subset): a destination.
dest(host, subset) := {"host": host, "subset": subset}

# routing(namespace, name, destination): a mesh VirtualService with one http rule to one
# destination (with a timeout: only the rule under test decides).
routing(namespace, name, destination) := vs(namespace, name, {
	"hosts": [name],
	"http": [{"route": [{"destination": destination}], "timeout": "1s"}],
})

# keys(findings): [code, namespace, name, field] of each finding.
keys(findings) := {[f.code, f.resource.namespace, f.resource.name, f.field] | some f in findings}
