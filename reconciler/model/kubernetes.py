"""The parts of Kubernetes kinds that the checks read: Services and the pods workloads create.

Read leniently (``KubeModel`` ignores unknown fields): a Deployment carries far more than
labels and selectors, and none of it should fail the routing checks. Pod and Namespace need
only their ``metadata``, so they have no spec model here.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from reconciler.model.base import KubeModel

__all__ = [
    "LabelSelector",
    "PodTemplate",
    "PodTemplateMeta",
    "ServicePortK8s",
    "ServiceSpec",
    "WorkloadSpec",
]


class ServicePortK8s(KubeModel):
    """A Service port; ``name``/``appProtocol`` tell Istio the protocol (IST0118)."""

    name: str | None = None
    port: int
    target_port: int | str | None = None
    protocol: str | None = None
    app_protocol: str | None = None


class ServiceSpec(KubeModel):
    """spec of a Service: which pods (``selector``) back which ports."""

    selector: dict[str, str] | None = None
    ports: list[ServicePortK8s] | None = None
    type: str | None = None
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    external_name: str | None = None


class LabelSelector(KubeModel):
    """A workload's pod selector; ``matchExpressions`` stay raw until a check needs them."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[dict[str, Any]] | None = None


class PodTemplateMeta(KubeModel):
    """metadata of a pod template: the labels subsets and gateway selectors match against."""

    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class PodTemplate(KubeModel):
    """A pod template; its spec is not read."""

    metadata: PodTemplateMeta = Field(default_factory=PodTemplateMeta)


class WorkloadSpec(KubeModel):
    """spec of a Deployment, StatefulSet, DaemonSet or ReplicaSet.

    ``replicas`` is kept because a workload scaled to 0 selects no pods; it is absent for a
    DaemonSet and defaults to 1 on the others.
    """

    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplate = Field(default_factory=PodTemplate)
