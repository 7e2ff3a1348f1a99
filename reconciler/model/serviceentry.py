"""ServiceEntry spec (networking.istio.io v1/v1beta1/v1alpha3 share one schema).

Class names follow istio/api ``networking/v1alpha3/service_entry.proto``. The CRD's CEL rules
(no ``*`` host, unique port numbers, endpoints vs workloadSelector, CIDR only with NONE/STATIC,
port range 1-65535) are left to the checks, which can explain them better than a schema error.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from reconciler.model.base import IstioModel
from reconciler.model.common import UInt32, WorkloadSelector
from reconciler.model.workloadentry import WorkloadEntrySpec

__all__ = ["ServiceEntrySpec", "ServicePort"]

_Str256 = Annotated[str, Field(max_length=256)]


class ServicePort(IstioModel):
    """A port of the entry's hosts; ``protocol`` decides how the sidecar treats the traffic."""

    number: UInt32
    protocol: _Str256 | None = None
    name: _Str256
    target_port: UInt32 | None = None


class ServiceEntrySpec(IstioModel):
    """spec of a ServiceEntry: hosts added to the mesh's registry, and where they live."""

    hosts: list[str] = Field(min_length=1, max_length=256)
    addresses: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=256
    )
    ports: list[ServicePort] | None = Field(default=None, max_length=256)
    location: Literal["MESH_EXTERNAL", "MESH_INTERNAL"] | None = None
    resolution: Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"] | None = None
    endpoints: list[WorkloadEntrySpec] | None = Field(default=None, max_length=4096)
    workload_selector: WorkloadSelector | None = None
    export_to: list[str] | None = None
    subject_alt_names: list[str] | None = None
