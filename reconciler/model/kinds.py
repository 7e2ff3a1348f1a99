"""Every kind of object meshrc may meet in a repository, and what it does with each.

A gate that passes a kind over silently gives false confidence, so every document is accounted
for: its kind is *checked* (validated against a model and read by the checks), *listed* (a kind
meshrc knows but does not check: the report names those objects as not checked), or unknown
(an ``unknown-kind`` finding: an error in a group meshrc knows, where it is a misspelt kind or
a version the group never served; information elsewhere, e.g. a third-party CRD).

Pure data; the spec models are attached by :mod:`reconciler.model.resources`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

NETWORKING_ISTIO = "networking.istio.io"
SECURITY_ISTIO = "security.istio.io"
GATEWAY_API = "gateway.networking.k8s.io"

ISTIO_VERSIONS = frozenset({"v1", "v1beta1", "v1alpha3"})
SECURITY_VERSIONS = frozenset({"v1", "v1beta1"})
ANY_VERSION: frozenset[str] = frozenset()
"""Built-in Kubernetes kinds are listed whatever their version: the API server judges those."""


@dataclass(frozen=True, slots=True)
class KindInfo:
    """One kind of one API group: the versions served (empty: any), and whether it is checked."""

    group: str
    kind: str
    versions: frozenset[str]
    checked: bool

    def serves(self, version: str) -> bool:
        return not self.versions or version in self.versions


def _kinds(group: str, versions: frozenset[str], checked: bool, *names: str) -> list[KindInfo]:
    return [KindInfo(group, name, versions, checked) for name in names]


_REGISTRY: list[KindInfo] = [
    # Istio: networking (the routing meshrc is about), security, telemetry, extensions
    *_kinds(
        NETWORKING_ISTIO,
        ISTIO_VERSIONS,
        True,
        "VirtualService",
        "DestinationRule",
        "Gateway",
        "ServiceEntry",
        "WorkloadEntry",
        "Sidecar",
    ),
    *_kinds(NETWORKING_ISTIO, ISTIO_VERSIONS, False, "WorkloadGroup"),
    *_kinds(NETWORKING_ISTIO, frozenset({"v1alpha3"}), False, "EnvoyFilter"),
    *_kinds(NETWORKING_ISTIO, frozenset({"v1beta1"}), False, "ProxyConfig"),
    *_kinds(
        SECURITY_ISTIO,
        SECURITY_VERSIONS,
        True,
        "AuthorizationPolicy",
        "PeerAuthentication",
        "RequestAuthentication",
    ),
    *_kinds("telemetry.istio.io", frozenset({"v1", "v1alpha1"}), False, "Telemetry"),
    *_kinds(
        "extensions.istio.io", frozenset({"v1alpha1"}), False, "WasmPlugin", "TrafficExtension"
    ),
    # Kubernetes Gateway API (standard and experimental channels)
    *_kinds(
        GATEWAY_API,
        frozenset({"v1", "v1beta1"}),
        False,
        "Gateway",
        "GatewayClass",
        "HTTPRoute",
    ),
    *_kinds(GATEWAY_API, frozenset({"v1", "v1alpha2"}), False, "GRPCRoute"),
    *_kinds(GATEWAY_API, frozenset({"v1beta1", "v1alpha2"}), False, "ReferenceGrant"),
    *_kinds(GATEWAY_API, frozenset({"v1alpha2"}), False, "TCPRoute", "UDPRoute"),
    *_kinds(GATEWAY_API, frozenset({"v1alpha2", "v1alpha3"}), False, "TLSRoute"),
    *_kinds(GATEWAY_API, frozenset({"v1", "v1alpha3"}), False, "BackendTLSPolicy"),
    *_kinds(GATEWAY_API, frozenset({"v1alpha2"}), False, "BackendLBPolicy"),
    *_kinds(GATEWAY_API, frozenset({"v1", "v1alpha2"}), False, "ListenerSet"),
    *_kinds(
        "gateway.networking.x-k8s.io",
        frozenset({"v1alpha1"}),
        False,
        "XListenerSet",
        "XBackendTrafficPolicy",
        "XMesh",
    ),
    # meshrc's own: route tests, validated and run by `meshrc verify`
    *_kinds("meshrc.io", frozenset({"v1alpha1"}), True, "RouteTest"),
    # Kubernetes: the kinds the checks read (Services, workloads and their pods, gateway
    # credentials)
    *_kinds("", ANY_VERSION, True, "Service", "Pod", "Namespace", "Secret"),
    *_kinds("apps", ANY_VERSION, True, "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"),
    # Kubernetes: built-in kinds a mesh repository carries and meshrc does not check
    *_kinds(
        "",
        ANY_VERSION,
        False,
        "Binding",
        "ComponentStatus",
        "ConfigMap",
        "Endpoints",
        "Event",
        "LimitRange",
        "Node",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "PodTemplate",
        "ReplicationController",
        "ResourceQuota",
        "ServiceAccount",
    ),
    *_kinds("apps", ANY_VERSION, False, "ControllerRevision"),
    *_kinds(
        "networking.k8s.io",
        ANY_VERSION,
        False,
        "Ingress",
        "IngressClass",
        "NetworkPolicy",
        "IPAddress",
        "ServiceCIDR",
    ),
    *_kinds("batch", ANY_VERSION, False, "Job", "CronJob"),
    *_kinds("autoscaling", ANY_VERSION, False, "HorizontalPodAutoscaler"),
    *_kinds("policy", ANY_VERSION, False, "PodDisruptionBudget"),
    *_kinds(
        "rbac.authorization.k8s.io",
        ANY_VERSION,
        False,
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    ),
    *_kinds("discovery.k8s.io", ANY_VERSION, False, "EndpointSlice"),
    *_kinds("coordination.k8s.io", ANY_VERSION, False, "Lease"),
    *_kinds("apiextensions.k8s.io", ANY_VERSION, False, "CustomResourceDefinition"),
    *_kinds(
        "admissionregistration.k8s.io",
        ANY_VERSION,
        False,
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    ),
    *_kinds("scheduling.k8s.io", ANY_VERSION, False, "PriorityClass"),
    *_kinds("node.k8s.io", ANY_VERSION, False, "RuntimeClass"),
    *_kinds(
        "storage.k8s.io",
        ANY_VERSION,
        False,
        "StorageClass",
        "CSIDriver",
        "CSINode",
        "CSIStorageCapacity",
        "VolumeAttachment",
        "VolumeAttributesClass",
    ),
    *_kinds("certificates.k8s.io", ANY_VERSION, False, "CertificateSigningRequest"),
    *_kinds("events.k8s.io", ANY_VERSION, False, "Event"),
    *_kinds("apiregistration.k8s.io", ANY_VERSION, False, "APIService"),
    *_kinds(
        "flowcontrol.apiserver.k8s.io",
        ANY_VERSION,
        False,
        "FlowSchema",
        "PriorityLevelConfiguration",
    ),
    *_kinds(
        "resource.k8s.io",
        ANY_VERSION,
        False,
        "DeviceClass",
        "ResourceClaim",
        "ResourceClaimTemplate",
        "ResourceSlice",
    ),
]

KINDS: dict[tuple[str, str], KindInfo] = {(k.group, k.kind): k for k in _REGISTRY}
KNOWN_GROUPS = frozenset(k.group for k in _REGISTRY)
"""Groups whose kinds meshrc knows all of: another kind there is a mistake, not a CRD."""


@lru_cache(maxsize=1024)
def split_api_version(api_version: str) -> tuple[str, str]:
    """``networking.istio.io/v1`` -> (group, version); the core group ``v1`` -> ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


def kind_info(api_version: str, kind: str) -> KindInfo | None:
    """What meshrc knows of this kind, whatever the version; None for a kind it does not know."""
    return KINDS.get((split_api_version(api_version)[0], kind))
