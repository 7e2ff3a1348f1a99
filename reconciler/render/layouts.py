"""How a rendered proxy is written: a bootstrap with static resources, or file-based xDS.

The xDS layout is what an Envoy reads from a mounted ConfigMap: ``bootstrap.yaml`` points LDS
and CDS at ``lds.yaml`` and ``cds.yaml`` in a watched directory, so that replacing the
directory (Kubernetes swaps a ConfigMap's symlink atomically) moves live traffic without a
restart. Endpoints are in the clusters (``load_assignment``): one file per EDS cluster would
need ConfigMap keys that cluster names (``outbound|9080|v1|...``) cannot be.

Output is byte-identical for the same input: keys sorted, lists in render order.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from reconciler.render.proxies import RenderedProxy
from reconciler.render.values import typed

ADMIN_PORT = 15000
LISTENER_TYPE = "envoy.config.listener.v3.Listener"
CLUSTER_TYPE = "envoy.config.cluster.v3.Cluster"


def _node(rendered: RenderedProxy) -> dict[str, Any]:
    return {"id": f"meshrc~{rendered.proxy}", "cluster": "meshrc"}


def _admin(port: int) -> dict[str, Any]:
    return {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}


def bootstrap(rendered: RenderedProxy, admin_port: int = ADMIN_PORT) -> dict[str, Any]:
    """One file an Envoy starts from: ``envoy -c bootstrap.yaml``."""
    return {
        "node": _node(rendered),
        "admin": _admin(admin_port),
        "static_resources": {"listeners": rendered.listeners, "clusters": rendered.clusters},
    }


def xds_files(
    rendered: RenderedProxy, directory: str, admin_port: int = ADMIN_PORT
) -> dict[str, dict[str, Any]]:
    """``bootstrap.yaml``, ``lds.yaml`` and ``cds.yaml`` for an Envoy that will read them
    from ``directory`` (where the ConfigMap is mounted)."""
    directory = directory.rstrip("/") or "/"

    def source(name: str) -> dict[str, Any]:
        return {
            "path_config_source": {
                "path": f"{directory}/{name}",
                "watched_directory": {"path": directory},
            },
            "resource_api_version": "V3",
        }

    return {
        "bootstrap.yaml": {
            "node": _node(rendered),
            "admin": _admin(admin_port),
            "dynamic_resources": {
                "lds_config": source("lds.yaml"),
                "cds_config": source("cds.yaml"),
            },
        },
        "lds.yaml": {
            "resources": [typed(LISTENER_TYPE, **listener) for listener in rendered.listeners]
        },
        "cds.yaml": {
            "resources": [typed(CLUSTER_TYPE, **cluster) for cluster in rendered.clusters]
        },
    }


def dumps(document: Any, output: str) -> str:
    """``document`` as ``yaml`` or ``json``, deterministically."""
    if output == "json":
        return json.dumps(document, indent=2, sort_keys=True) + "\n"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: several times faster
    return yaml.dump(document, Dumper=dumper, sort_keys=True, default_flow_style=False, width=100)
