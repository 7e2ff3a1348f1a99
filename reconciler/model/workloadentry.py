"""WorkloadEntry spec, also the type of a ServiceEntry's ``endpoints``.

Class names follow istio/api ``networking/v1alpha3/workload_entry.proto``. The CRD's CEL rules
(address or network required, UDS paths, port range 1-65535) are left to the checks.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from reconciler.model.base import IstioModel
from reconciler.model.common import UInt32

__all__ = ["WorkloadEntrySpec"]


class WorkloadEntrySpec(IstioModel):
    """A non-Kubernetes workload (VM, external endpoint) with labels like a pod's."""

    address: Annotated[str, Field(max_length=256)] | None = None
    ports: dict[str, UInt32] | None = Field(default=None, max_length=128)
    labels: dict[str, str] | None = Field(default=None, max_length=256)
    network: Annotated[str, Field(max_length=2048)] | None = None
    locality: Annotated[str, Field(max_length=2048)] | None = None
    weight: UInt32 | None = None
    service_account: Annotated[str, Field(max_length=253)] | None = None
