"""The rendered Envoy configuration of a Kubernetes target (``apply: [istio, envoy]``): a
ConfigMap per proxy in the file-based xDS layout (:mod:`reconciler.render.layouts`), for the
Envoys that mount it.

    name       ``meshrc-envoy-<proxy>`` with ``/`` as ``-`` (``meshrc-envoy-mesh``,
               ``meshrc-envoy-shop-web``) in the target's namespace; one longer than a
               ConfigMap's name may be (253) is cut, and ends with a hash of the proxy
    data       ``bootstrap.yaml``, ``lds.yaml``, ``cds.yaml``: what ``meshrc render --format
               xds --xds-dir <xdsDirectory>`` writes, byte for byte
    endpoints  Kubernetes Services' from the cluster itself (EndpointSlices, Pods' labels),
               ServiceEntries' and WorkloadEntries' from the files
    checked    a real Envoy loads every configuration before a sync applies it

For the rest they are objects like the Istio ones (:mod:`reconciler.targets.kubernetes`):
hashed, planned, sent as a dry run, applied after the VirtualServices, inventoried, pruned,
rolled back.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.config import KubernetesTarget
from reconciler.errors import RenderError, TargetError
from reconciler.model.snapshot import build_snapshot
from reconciler.render.cluster_endpoints import assemble, pod_labels
from reconciler.render.endpoints import from_snapshot
from reconciler.render.layouts import bootstrap, dumps, xds_files
from reconciler.render.options import RenderOptions
from reconciler.render.proxies import RenderedProxy, render_proxy
from reconciler.source.loading import Document
from reconciler.targets.kubernetes import (
    CONFIG_MAP,
    Cluster,
    DesiredObject,
    ObjectRef,
    Plan,
    owned_object,
)
from reconciler.verify.envoy import validate

PREFIX = "meshrc-envoy-"
PROXY = "meshrc.io/proxy"
"""The annotation naming the proxy (a cut name does not)."""
NAME_LIMIT = 253
"""Characters of a ConfigMap's name (a DNS-1123 subdomain)."""
CONFIGMAP_LIMIT = 1024 * 1024
"""Bytes of data a ConfigMap may hold: the API server refuses more."""
TLS_FILES = {"certificate_chain": "tls.crt", "private_key": "tls.key", "trusted_ca": "ca.crt"}


def configmap_name(proxy: str) -> str:
    """``meshrc-envoy-<proxy>``, ``/`` as ``-``; cut to a valid length, with a hash of the
    proxy so that two long names stay apart."""
    name = PREFIX + proxy.replace("/", "-")
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(proxy.encode()).hexdigest()[:10]
    return f"{name[: NAME_LIMIT - len(digest) - 1].rstrip('-.')}-{digest}"


@dataclass(frozen=True)
class EnvoyConfigMaps:
    """A target's ConfigMaps, and the render each holds."""

    objects: dict[ObjectRef, DesiredObject] = field(default_factory=dict)
    rendered: dict[ObjectRef, RenderedProxy] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        cluster: Cluster,
        target: KubernetesTarget,
        documents: Iterable[Document],
        repository: str,
        commit: str,
    ) -> EnvoyConfigMaps:
        """The ConfigMaps of the target's proxies (none without ``envoy`` in ``apply``),
        rendered from the commit's documents with the cluster's endpoints."""
        if not target.renders_envoy:
            return cls()
        snapshot, _ = build_snapshot(documents, target.namespace)  # findings: the checks'
        slices = cluster.list_items("/apis/discovery.k8s.io/v1/endpointslices", "EndpointSlices")
        pods = cluster.list_items("/api/v1/pods", "Pods")
        endpoints = from_snapshot(snapshot).merged(assemble(snapshot, slices, pod_labels(pods)))
        options = RenderOptions(
            namespace=target.proxy_namespace or target.namespace,
            credentials_dir=target.credentials_directory,
        )
        proxies = target.proxies
        if proxies is None:
            proxies = tuple(f"{namespace}/{name}" for namespace, name in sorted(snapshot.gateways))
        objects: dict[ObjectRef, DesiredObject] = {}
        rendered: dict[ObjectRef, RenderedProxy] = {}
        for proxy in dict.fromkeys(proxies):
            render = render_proxy(snapshot, proxy, endpoints, options)
            wanted = _configmap(render, target, repository, commit)
            if wanted.ref in rendered:
                raise TargetError(
                    f"proxies {rendered[wanted.ref].proxy} and {proxy} would both be "
                    f"{wanted.ref}: leave one out of `proxies`"
                )
            objects[wanted.ref], rendered[wanted.ref] = wanted, render
        return cls(objects, rendered)

    def validate(self, plan: Plan) -> None:
        """Have a real Envoy load each configuration ``plan`` applies (RenderError naming
        the proxy when it refuses one). The files of TLS certificates are stand-ins: they
        are the proxy Pod's (its Secrets), not this machine's."""
        applied = [d.ref for d in (*plan.create, *plan.configure) if d.ref in self.rendered]
        if not applied:
            return
        from reconciler.verify.credentials import write_stand_in_secrets  # cryptography: 16 ms

        with tempfile.TemporaryDirectory(prefix="meshrc-stand-ins-") as folder:
            stand_ins = str(write_stand_in_secrets(Path(folder), ["tls"]) / "tls")
            for ref in applied:
                proxy = self.rendered[ref]
                try:
                    validate(_with_stand_ins(bootstrap(proxy), stand_ins))
                except RenderError as exc:
                    raise RenderError(f"proxy {proxy.proxy}: {exc}; nothing was applied") from None


def _configmap(
    rendered: RenderedProxy, target: KubernetesTarget, repository: str, commit: str
) -> DesiredObject:
    data = {
        name: dumps(document, "yaml")
        for name, document in xds_files(rendered, target.xds_directory).items()
    }
    size = sum(len(text.encode()) for text in data.values())
    if size > CONFIGMAP_LIMIT:
        raise TargetError(
            f"proxy {rendered.proxy}: its Envoy configuration is {size:,} bytes, more than a "
            f"ConfigMap holds ({CONFIGMAP_LIMIT:,}); nothing was applied"
        )
    ref = ObjectRef(CONFIG_MAP, target.namespace, configmap_name(rendered.proxy))
    body = {
        "apiVersion": "v1",
        "kind": CONFIG_MAP,
        "metadata": {"name": ref.name, "annotations": {PROXY: rendered.proxy}},
        "data": data,
    }
    origin = f"rendered for proxy {rendered.proxy}"
    return owned_object(ref, "v1", body, origin, target, repository, commit)


def _with_stand_ins(node: Any, folder: str) -> Any:
    """``node`` with every TLS file (``{"filename": ...}``) one of ``folder``."""
    if isinstance(node, list):
        return [_with_stand_ins(item, folder) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: {"filename": f"{folder}/{TLS_FILES[key]}"}
        if key in TLS_FILES and isinstance(value, dict) and "filename" in value
        else _with_stand_ins(value, folder)
        for key, value in node.items()
    }
