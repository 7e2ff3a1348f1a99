"""Istio annotations that Istio does not know, that sit on the wrong object, whose value Istio
refuses, or that Istio deprecated (istioctl analyze's ``annotations.K8sAnalyzer``: IST0108,
IST0107, IST0125, IST0135).

As that analyzer: an annotation is Istio's when the part of its name before the first ``/`` ends
with ``istio.io`` (and ``kubernetes.io/ingress.class``, which Istio documents); the ones Istio
writes itself (``sidecar.istio.io/status``, ``gateway.istio.io/controller-version``,
``istio.io/rev``) are never judged. Each annotation is looked up in istio/api's list
(:mod:`reconciler.checks.istio_annotations`): unknown; else deprecated (unless it is
``sidecar.istio.io/inject`` beside the label of that name); then, unless it may be on any
object, misplaced on an object of a kind it is not declared for; else its value is validated
as the sidecar injector validates it.

istioctl looks at Namespaces, Services, Pods and Deployments. A repository holds the templates
of the pods rather than the pods, so meshrc also reads every workload's pod template as the Pod
it becomes, and every object the snapshot keeps (the rule is the same for all: the kinds
istio/api declares). Objects of kinds meshrc lists without checking keep no metadata and are
not read.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

import yaml

from reconciler.checks.istio_annotations import ANNOTATIONS, LABELS
from reconciler.findings import Finding
from reconciler.model.kinds import GATEWAY_API, NETWORKING_ISTIO, SECURITY_ISTIO, split_api_version
from reconciler.model.kubernetes import WorkloadSpec
from reconciler.model.resources import Resource
from reconciler.model.snapshot import Snapshot
from reconciler.source.positions import format_path

INGRESS_CLASS = "kubernetes.io/ingress.class"
INJECT = "sidecar.istio.io/inject"
WRITTEN_BY_ISTIO = frozenset(
    {"sidecar.istio.io/status", "gateway.istio.io/controller-version", "istio.io/rev"}
)
"""Set by istiod, the injector or a controller, never judged (istioctl's
``AlwaysIgnoredAnnotations``)."""
DEPRECATION_HINTS = {INJECT: f' in favor of the "{INJECT}" label'}

POD = ("", "Pod")
_KINDS: dict[str, tuple[str, str]] = {
    "Pod": POD,
    "Service": ("", "Service"),
    "Namespace": ("", "Namespace"),
    "Ingress": ("networking.k8s.io", "Ingress"),
    "Gateway": (GATEWAY_API, "Gateway"),
    "GatewayClass": (GATEWAY_API, "GatewayClass"),
    "ServiceEntry": (NETWORKING_ISTIO, "ServiceEntry"),
    "WorkloadEntry": (NETWORKING_ISTIO, "WorkloadEntry"),
    "AuthorizationPolicy": (SECURITY_ISTIO, "AuthorizationPolicy"),
}
"""istio/api's kind names as (group, kind): its ``Gateway`` is the Gateway API's, not Istio's."""
_EXPORT_TO_KINDS = frozenset({"VirtualService", "DestinationRule", "ServiceEntry"})


def check_annotations(snap: Snapshot) -> Iterator[Finding]:
    for resource in (*snap.resources(), *snap.kubernetes_objects):
        meta = resource.metadata
        if meta.annotations:
            group = split_api_version(resource.api_version)[0]
            yield from _judge(
                resource, (group, resource.kind), meta.annotations, meta.labels, ["metadata"]
            )
        spec = resource.spec
        if isinstance(spec, WorkloadSpec) and spec.template.metadata.annotations:
            template = spec.template.metadata
            place = ["spec", "template", "metadata"]
            yield from _judge(resource, POD, template.annotations, template.labels, place)


def _judge(
    resource: Resource[Any],
    kind: tuple[str, str],
    annotations: Mapping[str, str],
    labels: Mapping[str, str],
    place: list[str],
) -> Iterator[Finding]:
    """The findings of the annotations of one object (or pod template) of ``kind``."""
    for name, value in annotations.items():
        if not _is_istios(name) or name in WRITTEN_BY_ISTIO:
            continue
        problems = _problems(name, value, kind, INJECT in labels)
        if problems:
            where = resource.where(format_path([*place, "annotations", name]))
            for code, message in problems:
                yield Finding.of(code, message, **where)


@lru_cache(maxsize=4096)
def _problems(
    name: str, value: str, kind: tuple[str, str], inject_label: bool
) -> tuple[tuple[str, str], ...]:
    """(code, message) of what is wrong with one Istio annotation on an object of ``kind``;
    cached, as a mesh repeats the same annotations on many workloads."""
    known = ANNOTATIONS.get(name)
    if known is None:
        return (("unknown-annotation", _unknown(name)),)
    found: list[tuple[str, str]] = []
    if known.deprecated and not (name == INJECT and inject_label):
        hint = DEPRECATION_HINTS.get(name, "")
        message = f'Annotation "{name}" has been deprecated{hint} and may not work in future '
        found.append(("deprecated-annotation", message + "Istio versions."))
    if "Any" in known.kinds:
        return tuple(found)
    if not any(_KINDS.get(k) == kind for k in known.kinds):
        found.append(("misplaced-annotation", _misplaced(name, known.kinds, kind)))
        return tuple(found)
    validate = VALIDATORS.get(name)
    problem = validate(value) if validate is not None else None
    if problem is not None:
        found.append(("invalid-annotation", f"Invalid annotation {name}: {problem}"))
    return tuple(found)


def _is_istios(name: str) -> bool:
    return name == INGRESS_CLASS or name.split("/", 1)[0].endswith("istio.io")


def _unknown(name: str) -> str:
    message = f"Unknown annotation: {name}"
    if name in LABELS:
        return f"{message}; it is an Istio label: set it under labels, not annotations"
    close = difflib.get_close_matches(name, ANNOTATIONS, n=1, cutoff=0.8)
    return f"{message}; did you mean {close[0]}?" if close else message


def _misplaced(name: str, kinds: tuple[str, ...], kind: tuple[str, str]) -> str:
    shown = ", ".join(
        f"{k} ({GATEWAY_API})" if _KINDS.get(k, POD)[0] == GATEWAY_API else k for k in kinds
    )
    message = f"Misplaced annotation: {name} can only be applied to {shown}"
    group, kind_name = kind
    if "Pod" in kinds and group == "apps":
        return f"{message}; the pods take it from spec.template.metadata.annotations"
    if name == "networking.istio.io/exportTo" and kind_name in _EXPORT_TO_KINDS:
        return f"{message}; a {kind_name} sets spec.exportTo"
    return message


# Values, as the sidecar injector validates them (istio/istio pkg/kube/inject/validate.go).

Validator = Callable[[str], str | None]
"""The problem with a value, or None when Istio takes it."""

_DIGITS = re.compile(r"[0-9]+")
_INTERFACE = re.compile(r"[a-zA-Z][a-zA-Z0-9_.\-]*")
_QUANTITY = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+|[KMGTPE]i|[munkMGTPE])?"
)
_BOOLEANS = frozenset(
    {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
)
_SIGNED = re.compile(r"-?[0-9]+")


def _uint32(value: str) -> str | None:
    if _DIGITS.fullmatch(value) and int(value) <= 0xFFFFFFFF:
        return None
    return f"{value!r} is not a whole number from 0 to 4294967295"


def _boolean(value: str) -> str | None:
    return None if value in _BOOLEANS else f"{value!r} is not a boolean (true or false)"


def _interception_mode(value: str) -> str | None:
    if value in ("REDIRECT", "TPROXY", "NONE"):
        return None
    return f"interceptionMode invalid, use REDIRECT, TPROXY or NONE: {value!r}"


def _port_problem(text: str) -> str | None:
    port = text.strip()
    if _DIGITS.fullmatch(port) and int(port) <= 65535:
        return None
    return f"{text!r} is not a port number"


def _ports(star: bool) -> Validator:
    """A comma-separated list of ports (``*``: every port, where ``star`` allows it)."""

    def validate(value: str) -> str | None:
        if (star and value == "*") or not value.strip():
            return None
        problems = (_port_problem(port) for port in value.strip().split(","))
        return next((p for p in problems if p is not None), None)

    return validate


def _prefix_problem(text: str) -> str | None:
    """A CIDR as Go's ``netip.ParsePrefix`` takes it: an address without zone, ``/``, bits."""
    address, slash, bits = text.rpartition("/")
    problem = f"{text!r} is not a CIDR range"
    if not slash or "%" in address or not _DIGITS.fullmatch(bits):
        return problem
    if len(bits) > 1 and bits.startswith("0"):
        return problem
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return problem
    return None if int(bits) <= parsed.max_prefixlen else problem


def _cidrs(star: bool) -> Validator:
    """A comma-separated list of CIDR ranges (``*``: everything, where ``star`` allows it)."""

    def validate(value: str) -> str | None:
        if (star and value == "*") or not value:
            return None
        problems = (_prefix_problem(cidr) for cidr in value.split(","))
        return next((p for p in problems if p is not None), None)

    return validate


def _interfaces(value: str) -> str | None:
    if not value:
        return None
    for name in (part.strip() for part in value.split(",")):
        if not name:
            return "empty interface name"
        if len(name) > 15:
            return f"interface name {name!r} too long (max 15 chars)"
        if not _INTERFACE.fullmatch(name):
            return f"interface name {name!r} contains invalid characters"
    return None


def _quantity(value: str) -> str | None:
    if any(unicodedata.category(c) == "Cc" for c in value):
        return "the value contains control characters"
    if _QUANTITY.fullmatch(value):
        return None
    return f"{value!r} is not a Kubernetes quantity (such as 100m, 128Mi)"


def _proxy_config(value: str) -> str | None:
    """ProxyConfig fields in YAML over the mesh's defaults. Unknown fields are let through, as
    Istio does; only the top-level ports and discovery address are judged, not the rest of
    the ProxyConfig validation."""
    try:
        node = yaml.compose(value, Loader=yaml.CSafeLoader)
    except (yaml.YAMLError, RecursionError) as exc:
        return f"not YAML: {_first_line(exc)}"
    if node is None or node.tag == "tag:yaml.org,2002:null":
        return None
    if not isinstance(node, yaml.MappingNode):
        return "not a mapping of ProxyConfig fields"
    for key, item in node.value:
        if not isinstance(key, yaml.ScalarNode) or not isinstance(item, yaml.ScalarNode):
            continue
        if key.value in ("proxyAdminPort", "statusPort"):
            problem = _config_port(item.value)
        elif key.value == "discoveryAddress":
            problem = _address(item.value)
        else:
            problem = None
        if problem is not None:
            return f"{key.value}: {problem}"
    return None


def _config_port(text: str) -> str | None:
    number = text.strip()
    if _SIGNED.fullmatch(number) and not 1 <= int(number) <= 65535:
        return f"port number {text} must be in the range 1..65535"
    return None


def _address(text: str) -> str | None:
    """``host:port`` (``[v6]:port``), as the discovery address must be."""
    host, colon, port = text.rpartition(":")
    if not text:
        return "discovery address must be set to the proxy discovery service"
    bracketed = host.startswith("[") and host.endswith("]")
    if not colon or not host or (":" in host and not bracketed):
        return f"{text!r} is not host:port"
    return _port_problem(port) if port.strip() == port else f"{port!r} is not a port number"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


VALIDATORS: dict[str, Validator] = {
    "sidecar.istio.io/interceptionMode": _interception_mode,
    "status.sidecar.istio.io/port": _port_problem,
    "readiness.status.sidecar.istio.io/initialDelaySeconds": _uint32,
    "readiness.status.sidecar.istio.io/periodSeconds": _uint32,
    "readiness.status.sidecar.istio.io/failureThreshold": _uint32,
    "traffic.sidecar.istio.io/includeOutboundIPRanges": _cidrs(star=True),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": _cidrs(star=False),
    "traffic.sidecar.istio.io/includeInboundPorts": _ports(star=True),
    "traffic.sidecar.istio.io/excludeInboundPorts": _ports(star=False),
    "traffic.sidecar.istio.io/excludeOutboundPorts": _ports(star=False),
    "traffic.sidecar.istio.io/excludeInterfaces": _interfaces,
    "traffic.sidecar.istio.io/kubevirtInterfaces": _interfaces,
    "istio.io/reroute-virtual-interfaces": _interfaces,
    "prometheus.istio.io/merge-metrics": _boolean,
    "proxy.istio.io/config": _proxy_config,
    "sidecar.istio.io/proxyCPU": _quantity,
    "sidecar.istio.io/proxyMemory": _quantity,
    "sidecar.istio.io/proxyCPULimit": _quantity,
    "sidecar.istio.io/proxyMemoryLimit": _quantity,
}
"""The annotations whose values the injector validates (its ``AnnotationValidation``); a
value it refuses fails the injection of the pod."""
