"""Documents become typed resources: the envelope (kind, name, namespace, origin) plus a spec.

Validation problems become ``schema`` findings that point at the offending field; a resource
whose spec is invalid is still remembered by name (:class:`Broken`), so that references to it
do not cascade into "not found" findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from reconciler.findings import Finding
from reconciler.model.base import ObjectMeta
from reconciler.model.destinationrule import DestinationRuleSpec
from reconciler.model.gateway import GatewaySpec
from reconciler.model.kubernetes import ServiceSpec, WorkloadSpec
from reconciler.model.serviceentry import ServiceEntrySpec
from reconciler.model.virtualservice import VirtualServiceSpec
from reconciler.model.workloadentry import WorkloadEntrySpec
from reconciler.source.loading import Document
from reconciler.source.positions import PathPart, format_path

SpecT = TypeVar("SpecT")

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSIONS = ("v1", "v1beta1", "v1alpha3")
IGNORE_ANNOTATION = "meshrc.io/ignore"

ISTIO_SPECS: dict[str, type[BaseModel]] = {
    "VirtualService": VirtualServiceSpec,
    "DestinationRule": DestinationRuleSpec,
    "Gateway": GatewaySpec,
    "ServiceEntry": ServiceEntrySpec,
    "WorkloadEntry": WorkloadEntrySpec,
}
KUBE_SPECS: dict[tuple[str, str], type[BaseModel] | None] = {
    ("v1", "Service"): ServiceSpec,
    ("v1", "Namespace"): None,
    ("v1", "Pod"): None,
    ("apps/v1", "Deployment"): WorkloadSpec,
    ("apps/v1", "StatefulSet"): WorkloadSpec,
    ("apps/v1", "DaemonSet"): WorkloadSpec,
    ("apps/v1", "ReplicaSet"): WorkloadSpec,
}
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"})


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a resource was read: file, index of the document in the file, its first line."""

    file: str
    index: int
    line: int


@dataclass(frozen=True, slots=True)
class Resource(Generic[SpecT]):
    """One valid object of the snapshot. ``spec`` is None for kinds that have none we read."""

    api_version: str
    kind: str
    name: str
    namespace: str
    metadata: ObjectMeta
    spec: SpecT
    origin: Origin

    @property
    def ref(self) -> str:
        """``Kind namespace/name``, as people and istioctl write it."""
        return f"{self.kind} {self.namespace}/{self.name}"

    def ignored_codes(self) -> frozenset[str]:
        value = self.metadata.annotations.get(IGNORE_ANNOTATION, "")
        return frozenset(code.strip() for code in value.split(",") if code.strip())

    def where(self, field: str | None = None) -> dict[str, Any]:
        """Keyword arguments locating a finding on this resource (and one of its fields)."""
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "file": self.origin.file,
            "line": self.origin.line,
            "field": field,
        }


@dataclass(frozen=True, slots=True)
class Broken:
    """An object of a kind we check whose spec failed validation: known by name only."""

    kind: str
    namespace: str
    name: str
    raw_spec: Any


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one document gave: a resource, or a broken object and its findings, or nothing."""

    resource: Resource[Any] | None = None
    broken: Broken | None = None
    findings: tuple[Finding, ...] = ()


_NOTHING = Parsed()


def parse_resource(doc: Document, default_namespace: str = "default") -> Parsed:
    """Validate one document into a resource; other kinds of objects are skipped quietly."""
    body = doc.body
    if body is None:
        return _NOTHING
    origin = Origin(doc.file, doc.index, doc.line)
    if not _is_object(body):
        message = "not a Kubernetes object: a mapping with apiVersion and kind is expected"
        return Parsed(findings=(_schema(origin, None, message),))
    api_version, kind = body["apiVersion"], body["kind"]
    if not _reads(api_version, kind):
        return _NOTHING
    spec_model = _spec_model(api_version, kind)
    if spec_model is None and api_version.startswith(ISTIO_GROUP + "/"):
        message = f"{kind} is not served at {api_version}; use {ISTIO_GROUP}/v1"
        return Parsed(findings=(_schema(origin, "apiVersion", message, kind=kind),))
    try:
        meta = ObjectMeta.model_validate(body.get("metadata") or {}, by_name=False)
    except ValidationError as exc:
        return Parsed(findings=_validation_findings(exc, body, "metadata", origin, {"kind": kind}))
    namespace = meta.namespace or default_namespace
    where = {"kind": kind, "namespace": namespace, "name": meta.name or None}
    if not meta.name:
        message = "metadata.name is required"
        return Parsed(findings=(_schema(origin, "metadata.name", message, **where),))
    spec = None
    if spec_model is not None:
        raw_spec = body.get("spec")
        try:
            spec = spec_model.model_validate({} if raw_spec is None else raw_spec, by_name=False)
        except ValidationError as exc:
            return Parsed(
                broken=Broken(kind, namespace, meta.name, raw_spec),
                findings=_validation_findings(exc, body, "spec", origin, where),
            )
    return Parsed(Resource(api_version, kind, meta.name, namespace, meta, spec, origin))


def _is_object(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("kind"), str)
        and isinstance(body.get("apiVersion"), str)
    )


def _reads(api_version: str, kind: str) -> bool:
    """Whether meshrc reads this kind of object at all (others are skipped quietly)."""
    group = api_version.rpartition("/")[0]
    return (group == ISTIO_GROUP and kind in ISTIO_SPECS) or (api_version, kind) in KUBE_SPECS


def _spec_model(api_version: str, kind: str) -> type[BaseModel] | None:
    """The model of the spec; None for kinds read without spec, or unserved Istio versions."""
    group, _, version = api_version.rpartition("/")
    if group == ISTIO_GROUP:
        return ISTIO_SPECS[kind] if version in ISTIO_VERSIONS else None
    return KUBE_SPECS[(api_version, kind)]


def _schema(origin: Origin, field: str | None, message: str, **where: Any) -> Finding:
    where.setdefault("file", origin.file)
    where.setdefault("line", origin.line)
    return Finding.of("schema", message, field=field, **where)


def _validation_findings(
    exc: ValidationError, body: dict[str, Any], part: str, origin: Origin, where: dict[str, Any]
) -> tuple[Finding, ...]:
    findings = []
    for error in exc.errors(include_url=False):
        field = format_path(_data_path(body, [part, *error["loc"]]))
        findings.append(_schema(origin, field, _describe(error, field), **where))
    return tuple(findings)


def _data_path(body: Any, loc: list[Any]) -> list[PathPart]:
    """Keep the parts of a pydantic error location that exist in the data.

    Pydantic adds the names of union members and validators to ``loc``; the user only knows
    the YAML path. An unknown key is kept (it exists in the data), a missing one too (last).
    """
    parts: list[PathPart] = []
    node = body
    for index, part in enumerate(loc):
        in_mapping = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_list:
            parts.append(part)
            node = node[part]
        elif index == len(loc) - 1 and isinstance(part, str) and isinstance(node, dict):
            parts.append(part)  # a required field that is missing
    return parts


def _describe(error: Any, field: str) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        return f"unknown field {field!r}"
    if kind == "missing":
        return f"{field} is required"
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{field}: {error['msg']} (got {type(value).__name__} {shown})"
