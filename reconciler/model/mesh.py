"""The mesh-wide settings Istio's semantics depend on: the part of MeshConfig meshrc reads.

istiod reads these from its MeshConfig and ``istioctl analyze`` takes them with
``--meshConfigFile``; meshrc takes them from the ``mesh:`` section of meshrc.yaml. The defaults
are Istio's own.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class MeshSettings(BaseModel):
    """``mesh:`` in meshrc.yaml, in MeshConfig's names (``rootNamespace``, ...)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    root_namespace: str = "istio-system"
    """Where mesh-wide defaults live: a Sidecar or PeerAuthentication without selector here
    applies to every namespace."""
    default_service_export_to: tuple[str, ...] = ("*",)
    default_virtual_service_export_to: tuple[str, ...] = ("*",)
    default_destination_rule_export_to: tuple[str, ...] = ("*",)


DEFAULT_MESH = MeshSettings()
