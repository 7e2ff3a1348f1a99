"""Endpoints of Kubernetes Services read from a cluster: its EndpointSlices, and the labels
of the Pods behind them (which subsets select).

The files say which Services exist; only the cluster knows where their Pods are. This is the
I/O edge of rendering: one list of EndpointSlices and one of Pods, then pure assembly.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reconciler.errors import RenderError
from reconciler.model.hosts import service_fqdn
from reconciler.model.snapshot import Snapshot
from reconciler.render.endpoints import Endpoint, EndpointTable

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def cluster_endpoints(
    snapshot: Snapshot, kubeconfig: Path | None, context: str | None
) -> EndpointTable:
    """The ready endpoints of the snapshot's Services in the cluster of ``kubeconfig``."""
    import kubernetes
    from urllib3.exceptions import HTTPError

    try:
        with kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None, context=context
        ) as api:
            server = api.configuration.host
            try:
                discovery = kubernetes.client.DiscoveryV1Api(api)
                core = kubernetes.client.CoreV1Api(api)
                # Plain dicts, as the API serves them: the client's models are typed loosely.
                slices = api.sanitize_for_serialization(
                    discovery.list_endpoint_slice_for_all_namespaces()
                )
                pods = api.sanitize_for_serialization(core.list_pod_for_all_namespaces())
            except kubernetes.client.ApiException as exc:
                raise RenderError(
                    f"Kubernetes API at {server}: {exc.status} {exc.reason}"
                ) from None
            except HTTPError:
                raise RenderError(f"Kubernetes API at {server} is unreachable") from None
    except kubernetes.config.ConfigException as exc:
        raise RenderError(f"kubeconfig: {exc}") from None
    return assemble(snapshot, slices["items"], pod_labels(pods["items"]))


def pod_labels(pods: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, str]]:
    """(namespace, name) -> labels of Pods as the API serves them."""
    return {
        (pod["metadata"]["namespace"], pod["metadata"]["name"]): pod["metadata"].get("labels") or {}
        for pod in pods
    }


def assemble(
    snapshot: Snapshot,
    slices: Iterable[dict[str, Any]],
    pod_labels: dict[tuple[str, str], dict[str, str]],
) -> EndpointTable:
    """The table from EndpointSlices (as the API serves them) and Pods' labels: an endpoint per
    ready address, on the target port whose name is the Service port's, with its Pod's labels."""
    services = {(s.namespace, s.name): s for s in snapshot.services}
    table = EndpointTable()
    for endpoint_slice in slices:
        metadata = endpoint_slice.get("metadata") or {}
        name = (metadata.get("labels") or {}).get(SERVICE_NAME_LABEL)
        service = services.get((metadata.get("namespace", ""), name or ""))
        if service is None:
            continue
        target_ports = {(p.get("name") or ""): p["port"] for p in endpoint_slice.get("ports") or ()}
        for endpoint in endpoint_slice.get("endpoints") or ():
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            reference = endpoint.get("targetRef") or {}
            labels = pod_labels.get((reference.get("namespace", ""), reference.get("name", "")), {})
            for port in service.spec.ports or ():
                target = target_ports.get(port.name or "")
                if target is None:
                    continue
                for address in endpoint.get("addresses") or ():
                    table.add(
                        service_fqdn(service.name, service.namespace),
                        port.port,
                        Endpoint(address, target, tuple(sorted(labels.items()))),
                    )
    return table
