"""Manifests with Istio annotations, for the annotation checks' cases and tests."""

from __future__ import annotations


def cart(service: str = "", metadata: str = "", template: str = "", labels: str = "") -> str:
    """A Deployment ``shop/cart`` with its Service; ``service``, ``metadata`` and ``template``
    are extra lines of the metadata of the Service, the Deployment (indented by two) and its pod
    template (by six), ``labels`` extra pod labels (by eight)."""
    return (
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata:\n"
        "  name: cart\n"
        "  namespace: shop\n"
        f"{service}"
        "spec:\n"
        "  selector:\n"
        "    app: cart\n"
        "  ports:\n"
        "    - name: http\n"
        "      port: 8080\n"
        "---\n"
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        "  name: cart\n"
        "  namespace: shop\n"
        f"{metadata}"
        "spec:\n"
        "  selector:\n"
        "    matchLabels:\n"
        "      app: cart\n"
        "  template:\n"
        "    metadata:\n"
        f"{template}"
        "      labels:\n"
        "        app: cart\n"
        f"{labels}"
    )


def pod_annotations(*lines: str) -> str:
    return "      annotations:\n" + "".join(f"        {line}\n" for line in lines)


def object_annotations(*lines: str) -> str:
    return "  annotations:\n" + "".join(f"    {line}\n" for line in lines)


EXPORT_TO = 'networking.istio.io/exportTo: "."'
INJECT = 'sidecar.istio.io/inject: "false"'
PROXY_CONFIG = 'proxy.istio.io/config: "{holdApplicationUntilProxyStart: true}"'
RANGES = "traffic.sidecar.istio.io/excludeOutboundIPRanges: 10.0.0.0/8,192.168.0.0/16"

UNKNOWN = cart(template=pod_annotations(PROXY_CONFIG.replace("config", "confg")))
UNKNOWN_FIXED = cart(template=pod_annotations(PROXY_CONFIG))
MISPLACED = cart(metadata=object_annotations(EXPORT_TO))
MISPLACED_FIXED = cart(service=object_annotations(EXPORT_TO))
INVALID = cart(template=pod_annotations(RANGES.replace(",", ", ")))
"""A space after the comma: the injector parses each range as it is, and refuses this one."""
INVALID_FIXED = cart(template=pod_annotations(RANGES))
DEPRECATED = cart(template=pod_annotations(INJECT))
DEPRECATED_FIXED = cart(labels=f"        {INJECT}\n")
