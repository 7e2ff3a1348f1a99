"""Istio's annotations and labels, as istio/api declares them: data about Istio's API, not code.

Taken from istio/api (https://github.com/istio/api, Apache License 2.0) at commit
b8f8791d9653b2edc77a071d48887e582cfe84bf: ``annotation/annotations.yaml`` (each annotation's
name, the kinds of object it may be on, whether it is deprecated) and ``label/labels.yaml`` (the
label names, so that a label written as an annotation can be named as such). istioctl analyze
reads the same list (``annotation.AllResourceAnnotations()``). Refresh both from a newer commit
when Istio adds annotations; the kinds are istio/api's names (``Any``: every kind).
"""

from __future__ import annotations

from typing import NamedTuple


class IstioAnnotation(NamedTuple):
    """Where one annotation may be (istio/api's ``resources``) and whether it is deprecated."""

    kinds: tuple[str, ...]
    deprecated: bool


ANNOTATIONS: dict[str, IstioAnnotation] = {
    "alpha.istio.io/canonical-serviceaccounts": IstioAnnotation(("Service",), True),
    "alpha.istio.io/kubernetes-serviceaccounts": IstioAnnotation(("Service",), True),
    "ambient.istio.io/bypass-inbound-capture": IstioAnnotation(("Pod",), False),
    "ambient.istio.io/dns-capture": IstioAnnotation(("Pod",), False),
    "ambient.istio.io/redirection": IstioAnnotation(("Pod",), False),
    "ambient.istio.io/waypoint-inbound-binding": IstioAnnotation(
        ("GatewayClass", "Gateway"), False
    ),
    "galley.istio.io/analyze-suppress": IstioAnnotation(("Any",), False),
    "gateway.istio.io/controller-version": IstioAnnotation(("Any",), False),
    "gateway.istio.io/name-override": IstioAnnotation(("Gateway",), False),
    "gateway.istio.io/service-account": IstioAnnotation(("Gateway",), False),
    "inject.istio.io/templates": IstioAnnotation(("Pod",), False),
    "istio.io/autoRegistrationGroup": IstioAnnotation(("WorkloadEntry",), False),
    "istio.io/connectedAt": IstioAnnotation(("WorkloadEntry",), False),
    "istio.io/disconnectedAt": IstioAnnotation(("WorkloadEntry",), False),
    "istio.io/dry-run": IstioAnnotation(("AuthorizationPolicy",), False),
    "istio.io/reroute-virtual-interfaces": IstioAnnotation(("Pod",), False),
    "istio.io/rev": IstioAnnotation(("Pod",), False),
    "istio.io/use-waypoint-canary-weight": IstioAnnotation(
        ("Service", "ServiceEntry", "Namespace"), False
    ),
    "istio.io/workloadController": IstioAnnotation(("WorkloadEntry",), False),
    "kubernetes.io/ingress.class": IstioAnnotation(("Ingress",), False),
    "networking.istio.io/exportTo": IstioAnnotation(("Service",), False),
    "networking.istio.io/service-type": IstioAnnotation(("Gateway",), False),
    "networking.istio.io/traffic-distribution": IstioAnnotation(
        ("Namespace", "Service", "ServiceEntry"), False
    ),
    "prometheus.istio.io/merge-metrics": IstioAnnotation(("Pod",), False),
    "proxy.istio.io/config": IstioAnnotation(("Pod",), False),
    "proxy.istio.io/overrides": IstioAnnotation(("Pod",), False),
    "readiness.status.sidecar.istio.io/applicationPorts": IstioAnnotation(("Pod",), False),
    "readiness.status.sidecar.istio.io/failureThreshold": IstioAnnotation(("Pod",), False),
    "readiness.status.sidecar.istio.io/initialDelaySeconds": IstioAnnotation(("Pod",), False),
    "readiness.status.sidecar.istio.io/periodSeconds": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/agentLogLevel": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/bootstrapOverride": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/componentLogLevel": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/discoveryAddress": IstioAnnotation(("Pod",), True),
    "sidecar.istio.io/extraStatTags": IstioAnnotation(("Pod",), True),
    "sidecar.istio.io/inject": IstioAnnotation(("Pod",), True),
    "sidecar.istio.io/interceptionMode": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/logLevel": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/nativeSidecar": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/proxyCPU": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/proxyCPULimit": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/proxyImage": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/proxyImageType": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/proxyMemory": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/proxyMemoryLimit": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/rewriteAppHTTPProbers": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/statsCompression": IstioAnnotation(("Pod",), True),
    "sidecar.istio.io/statsEvictionInterval": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/statsFlushInterval": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/statsHistogramBins": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/statsHistogramBuckets": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/statsInclusionPrefixes": IstioAnnotation(("Pod",), True),
    "sidecar.istio.io/statsInclusionRegexps": IstioAnnotation(("Pod",), True),
    "sidecar.istio.io/statsInclusionSuffixes": IstioAnnotation(("Pod",), True),
    "sidecar.istio.io/status": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/userVolume": IstioAnnotation(("Pod",), False),
    "sidecar.istio.io/userVolumeMount": IstioAnnotation(("Pod",), False),
    "status.sidecar.istio.io/port": IstioAnnotation(("Pod",), False),
    "topology.istio.io/controlPlaneClusters": IstioAnnotation(("Namespace",), False),
    "traffic.istio.io/nodeSelector": IstioAnnotation(("Service",), False),
    "traffic.sidecar.istio.io/excludeInboundPorts": IstioAnnotation(("Pod",), False),
    "traffic.sidecar.istio.io/excludeInterfaces": IstioAnnotation(("Pod",), False),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": IstioAnnotation(("Pod",), False),
    "traffic.sidecar.istio.io/excludeOutboundPorts": IstioAnnotation(("Pod",), False),
    "traffic.sidecar.istio.io/includeInboundPorts": IstioAnnotation(("Pod",), False),
    "traffic.sidecar.istio.io/includeOutboundIPRanges": IstioAnnotation(("Pod",), False),
    "traffic.sidecar.istio.io/includeOutboundPorts": IstioAnnotation(("Pod",), False),
    "traffic.sidecar.istio.io/kubevirtInterfaces": IstioAnnotation(("Pod",), True),
}

LABELS: frozenset[str] = frozenset(
    {
        "gateway.istio.io/managed",
        "gateway.networking.k8s.io/gateway-class-name",
        "gateway.networking.k8s.io/gateway-name",
        "istio.io/dataplane-mode",
        "istio.io/ingress-use-waypoint",
        "istio.io/rev",
        "istio.io/tag",
        "istio.io/use-waypoint",
        "istio.io/use-waypoint-canary",
        "istio.io/use-waypoint-canary-namespace",
        "istio.io/use-waypoint-namespace",
        "istio.io/waypoint-for",
        "networking.istio.io/enable-autoallocate-ip",
        "networking.istio.io/gatewayPort",
        "operator.istio.io/component",
        "operator.istio.io/managed",
        "operator.istio.io/version",
        "security.istio.io/tlsMode",
        "service.istio.io/canonical-name",
        "service.istio.io/canonical-revision",
        "service.istio.io/workload-name",
        "sidecar.istio.io/inject",
        "topology.istio.io/cluster",
        "topology.istio.io/locality",
        "topology.istio.io/network",
        "topology.istio.io/subzone",
    }
)
