"""The input document every policy sees: the whole snapshot at once, built once per check.

    input.resources[i]   every Kubernetes object of the snapshot as written: apiVersion,
                         kind, metadata (the namespace filled in), spec, and
                         source: {file, line}
    input.index          {kind: {namespace: {name: i}}}: positions in input.resources
                         (cluster-scoped kinds under the namespace "")
    input.commit         {id, ref} of the checked commit, or null for a folder

Policies read their parameters from ``data.meshrc.params``. When the bundle declares the
kinds it reads (``PolicyBundle.input_kinds``), objects of other kinds are left out: a
Deployment's pod template is much of a snapshot's bytes, and decoding them is much of a
remote OPA server's time.

Only those keys are sent: a Secret's ``data`` or ``stringData`` (or a ConfigMap's) never
leaves meshrc for a policy engine, which may be a remote OPA server; nor do
``metadata.managedFields`` and kubectl's last-applied annotation, which copy the object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.source.loading import Document

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CLUSTER_SCOPED = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
)


def build_input(
    documents: Iterable[Document],
    default_namespace: str = "default",
    commit: dict[str, str] | None = None,
    kinds: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The policy input for ``documents`` (those that are Kubernetes objects of ``kinds``,
    or of any kind when it is None)."""
    resources: list[dict[str, Any]] = []
    index: dict[str, dict[str, dict[str, int]]] = {}
    for doc in documents:
        body = doc.body
        if not (
            isinstance(body, dict)
            and isinstance(body.get("kind"), str)
            and isinstance(body.get("apiVersion"), str)
        ) or (kinds is not None and body["kind"] not in kinds):
            continue
        metadata = body.get("metadata")
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        metadata.pop("managedFields", None)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            metadata["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        namespace = metadata.get("namespace")
        if body["kind"] in CLUSTER_SCOPED:
            namespace = ""
        elif not isinstance(namespace, str) or not namespace:
            metadata["namespace"] = namespace = default_namespace
        resource = {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "metadata": metadata,
            "source": {"file": doc.file, "line": doc.line},
        }
        if "spec" in body:
            resource["spec"] = body["spec"]
        name = metadata.get("name")
        if isinstance(name, str):
            by_namespace = index.setdefault(body["kind"], {}).setdefault(namespace, {})
            by_namespace.setdefault(name, len(resources))
        resources.append(resource)
    return {"resources": resources, "index": index, "commit": commit}
