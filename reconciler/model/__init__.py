"""Typed resources: pydantic models of the Istio and Kubernetes objects meshrc reads.

Pure data: no I/O, no imports from other stages. Istio specs are strict (unknown fields and
wrong types are errors, as the API server's structural schema makes them); Kubernetes kinds
are read leniently, only the fields the checks need. Module per kind: ``virtualservice``,
``destinationrule``, ``gateway``, ``serviceentry``, ``workloadentry``, ``kubernetes``;
``common`` holds shared messages and the ``Duration`` type.
"""

from reconciler.model.base import IstioModel, KubeModel, ObjectMeta
from reconciler.model.destinationrule import DestinationRuleSpec
from reconciler.model.gateway import GatewaySpec
from reconciler.model.kubernetes import ServiceSpec, WorkloadSpec
from reconciler.model.serviceentry import ServiceEntrySpec
from reconciler.model.virtualservice import VirtualServiceSpec
from reconciler.model.workloadentry import WorkloadEntrySpec

__all__ = [
    "DestinationRuleSpec",
    "GatewaySpec",
    "IstioModel",
    "KubeModel",
    "ObjectMeta",
    "ServiceEntrySpec",
    "ServiceSpec",
    "VirtualServiceSpec",
    "WorkloadEntrySpec",
    "WorkloadSpec",
]
