"""The input document every policy sees: the whole snapshot at once, built once per check.

    input.resources[i]   every Kubernetes object of the snapshot as written (apiVersion,
                         kind, metadata with the namespace filled in, spec, ...) plus
                         source: {file, line}
    input.index          {kind: {namespace: {name: i}}}: positions in input.resources
                         (cluster-scoped kinds under the namespace "")
    input.commit         {id, ref} of the checked commit, or null for a folder

Policies read their parameters from ``data.meshrc.params``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.source.loading import Document

CLUSTER_SCOPED = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
)


def build_input(
    documents: Iterable[Document],
    default_namespace: str = "default",
    commit: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The policy input for ``documents`` (those that are Kubernetes objects)."""
    resources: list[dict[str, Any]] = []
    index: dict[str, dict[str, dict[str, int]]] = {}
    for doc in documents:
        body = doc.body
        if not (
            isinstance(body, dict)
            and isinstance(body.get("kind"), str)
            and isinstance(body.get("apiVersion"), str)
        ):
            continue
        metadata = body.get("metadata")
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        namespace = metadata.get("namespace")
        if body["kind"] in CLUSTER_SCOPED:
            namespace = ""
        elif not isinstance(namespace, str) or not namespace:
            metadata["namespace"] = namespace = default_namespace
        resource = {**body, "metadata": metadata, "source": {"file": doc.file, "line": doc.line}}
        name = metadata.get("name")
        if isinstance(name, str):
            by_namespace = index.setdefault(body["kind"], {}).setdefault(namespace, {})
            by_namespace.setdefault(name, len(resources))
        resources.append(resource)
    return {"resources": resources, "index": index, "commit": commit}
