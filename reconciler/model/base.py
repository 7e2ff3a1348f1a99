"""Shared model conventions: Istio specs are strict, Kubernetes kinds are read leniently.

Istio specs reject unknown fields and wrong types (``extra="forbid"``, ``strict=True``), as the
API server does through the CRD's structural schema: each rejection becomes a ``schema``
finding. Python field names are the snake_case of Istio's camelCase names, which stay the
aliases used to read YAML.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel


def _null_as_empty(value: Any) -> Any:
    return {} if value is None else value


StringMap = Annotated[dict[str, str], BeforeValidator(_null_as_empty)]
"""labels or annotations: a key left with only a comment under it is YAML null, which the API
server takes as an empty map, and so does meshrc."""


class IstioModel(BaseModel):
    """Base of every Istio API message: camelCase aliases, no unknown fields, no coercion."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )


class KubeModel(BaseModel):
    """Base of the Kubernetes kinds meshrc reads: the fields checks need; others are ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        strict=True,
        frozen=True,
    )


class ObjectMeta(KubeModel):
    """metadata of any object; the namespace is filled in by the loader when absent."""

    name: str = ""
    namespace: str | None = None
    labels: StringMap = Field(default_factory=dict)
    annotations: StringMap = Field(default_factory=dict)
