"""Documents become typed resources: the envelope (kind, name, namespace, origin) plus a spec.

Validation problems become ``schema`` findings that point at the offending field; a resource
whose spec is invalid is still remembered by name (:class:`Broken`), so that references to it
do not cascade into "not found" findings.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from reconciler.findings import Finding
from reconciler.model.base import ObjectMeta
from reconciler.model.destinationrule import DestinationRuleSpec
from reconciler.model.gateway import GatewaySpec
from reconciler.model.kinds import (
    KNOWN_GROUPS,
    NETWORKING_ISTIO,
    SECURITY_ISTIO,
    KindInfo,
    kind_info,
    split_api_version,
)
from reconciler.model.kubernetes import (
    PodSpec,
    SecretSpec,
    ServiceSpec,
    WorkloadSpec,
    secret_fields,
)
from reconciler.model.security import (
    AuthorizationPolicySpec,
    PeerAuthenticationSpec,
    RequestAuthenticationSpec,
)
from reconciler.model.serviceentry import ServiceEntrySpec
from reconciler.model.sidecar import SidecarSpec
from reconciler.model.virtualservice import VirtualServiceSpec
from reconciler.model.workloadentry import WorkloadEntrySpec
from reconciler.source.loading import Document
from reconciler.source.positions import PathPart, format_path, parse_path

SpecT = TypeVar("SpecT")

ISTIO_GROUP = NETWORKING_ISTIO
IGNORE_ANNOTATION = "meshrc.io/ignore"

SPECS: dict[tuple[str, str], type[BaseModel]] = {
    (NETWORKING_ISTIO, "VirtualService"): VirtualServiceSpec,
    (NETWORKING_ISTIO, "DestinationRule"): DestinationRuleSpec,
    (NETWORKING_ISTIO, "Gateway"): GatewaySpec,
    (NETWORKING_ISTIO, "ServiceEntry"): ServiceEntrySpec,
    (NETWORKING_ISTIO, "WorkloadEntry"): WorkloadEntrySpec,
    (NETWORKING_ISTIO, "Sidecar"): SidecarSpec,
    (SECURITY_ISTIO, "AuthorizationPolicy"): AuthorizationPolicySpec,
    (SECURITY_ISTIO, "PeerAuthentication"): PeerAuthenticationSpec,
    (SECURITY_ISTIO, "RequestAuthentication"): RequestAuthenticationSpec,
    ("", "Service"): ServiceSpec,
    ("", "Secret"): SecretSpec,
    ("", "Pod"): PodSpec,
    ("apps", "Deployment"): WorkloadSpec,
    ("apps", "StatefulSet"): WorkloadSpec,
    ("apps", "DaemonSet"): WorkloadSpec,
    ("apps", "ReplicaSet"): WorkloadSpec,
}
"""The spec model of each checked kind; a checked kind without one (Namespace) is read by
its metadata alone."""
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"})


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a resource was read: file, index of the document in the file, its first line, and
    for an item of a ``kind: List`` its path in that document (``items[2]``)."""

    file: str
    index: int
    line: int
    path: str = ""
    cut: frozenset[tuple[str, int]] = frozenset()
    """For a salvaged object: the list items cut out, as (list path, index), so that the paths
    of what remains name the items of the document, not of the shortened lists."""

    def field(self, field: str | None) -> str | None:
        """The path of ``field`` of this object within its document."""
        if field and self.cut:
            field = self._uncut(field)
        if not self.path:
            return field
        return f"{self.path}.{field}" if field else self.path

    def _uncut(self, field: str) -> str:
        parts: list[PathPart] = []
        for part in parse_path(field):
            if isinstance(part, int):
                where = format_path(parts)
                for removed in sorted(i for p, i in self.cut if p == where):
                    if removed <= part:
                        part += 1
            parts.append(part)
        return format_path(parts)


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
            "field": self.origin.field(field),
        }


@dataclass(frozen=True, slots=True)
class Broken:
    """An object of a kind we check whose spec failed validation: known by name, and for a
    VirtualService by what remains valid once the invalid parts are cut out (``salvaged``), so
    that one bad destination does not hide the references of all the others."""

    kind: str
    namespace: str
    name: str
    raw_spec: Any
    salvaged: Resource[Any] | None = None


@dataclass(frozen=True, slots=True)
class Listed:
    """An object of a kind meshrc knows but does not check: named in the report as such."""

    api_version: str
    kind: str
    namespace: str
    name: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one document gave: a resource, a broken object and its findings, a listed object,
    or only findings (an unknown kind, a document that is no object)."""

    resource: Resource[Any] | None = None
    broken: Broken | None = None
    findings: tuple[Finding, ...] = ()
    listed: Listed | None = None


_NOTHING = Parsed()


def parse_resource(doc: Document, default_namespace: str = "default") -> Parsed:
    """Validate one document into a resource, a listed object, or findings."""
    body = doc.body
    if body is None:
        return _NOTHING
    origin = Origin(doc.file, doc.index, doc.line, doc.path)
    if not _is_object(body):
        message = "not a Kubernetes object: a mapping with apiVersion and kind is expected"
        return Parsed(findings=(_schema(origin, origin.field(None), message),))
    api_version, kind = body["apiVersion"], body["kind"]
    group, info, problem = _kind_verdict(api_version, kind)
    if problem is not None:
        return Parsed(findings=(_unknown_kind(origin, body, default_namespace, problem),))
    try:
        meta = ObjectMeta.model_validate(body.get("metadata") or {}, by_name=False)
    except ValidationError as exc:
        return Parsed(findings=_validation_findings(exc, body, "metadata", origin, {"kind": kind}))
    namespace = meta.namespace or default_namespace
    where = {"kind": kind, "namespace": namespace, "name": meta.name or None}
    if not meta.name:
        message = "metadata.name is required"
        return Parsed(findings=(_schema(origin, origin.field("metadata.name"), message, **where),))
    if info is not None and not info.checked:
        return Parsed(listed=Listed(api_version, kind, namespace, meta.name, origin))
    spec = None
    spec_model = SPECS.get((group, kind))
    if spec_model is not None:
        raw_spec = secret_fields(body) if spec_model is SecretSpec else body.get("spec")
        try:
            spec = spec_model.model_validate({} if raw_spec is None else raw_spec, by_name=False)
        except ValidationError as exc:
            salvaged = None
            if kind in SALVAGED_KINDS:
                kept = _salvage(spec_model, raw_spec, exc)
                if kept is not None:
                    part, cut = kept
                    where_kept = replace(origin, cut=cut)
                    salvaged = Resource(
                        api_version, kind, meta.name, namespace, meta, part, where_kept
                    )
            return Parsed(
                broken=Broken(kind, namespace, meta.name, raw_spec, salvaged),
                findings=_validation_findings(exc, body, "spec", origin, where),
            )
    return Parsed(Resource(api_version, kind, meta.name, namespace, meta, spec, origin))


SALVAGED_KINDS = frozenset({"VirtualService"})


def _salvage(
    model: type[BaseModel], raw_spec: Any, exc: ValidationError
) -> tuple[BaseModel, frozenset[tuple[str, int]]] | None:
    """The spec without the list items (or keys) that failed validation, if that validates,
    and the list items cut out (as ``spec``-rooted list path and index)."""
    data = copy.deepcopy(raw_spec)
    doomed: dict[tuple[int, PathPart], tuple[Any, PathPart, str]] = {}
    for error in exc.errors(include_url=False):
        target = _invalid_part(data, error["loc"])
        if target is None:
            return None
        doomed[(id(target[0]), target[1])] = target
    for container, key, _ in sorted(
        doomed.values(), key=lambda t: (isinstance(t[1], int), t[1]), reverse=True
    ):
        del container[key]
    cut = frozenset((where, key) for _, key, where in doomed.values() if isinstance(key, int))
    try:
        return model.model_validate(data, by_name=False), cut
    except ValidationError:
        return None  # what is left is no valid spec either: known by name only


def _invalid_part(data: Any, loc: Sequence[Any]) -> tuple[Any, PathPart, str] | None:
    """The innermost list item holding the error at ``loc`` (else the key), as (container,
    key, the container's path); None when the error is at the top (nothing to cut out)."""
    node: Any = data
    path: list[PathPart] = ["spec"]
    found: tuple[Any, PathPart, str] | None = None
    for part in loc:
        in_mapping = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_mapping or in_list):
            break
        if in_list or found is None or not isinstance(found[1], int):
            found = (node, part, format_path(path))
        node = node[part]
        path.append(part)
    return found


def _is_object(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("kind"), str)
        and isinstance(body.get("apiVersion"), str)
    )


_Problem = tuple[str, str, str | None]
"""An unknown kind's message, the field it is about, and its severity when milder."""


@lru_cache(maxsize=4096)
def _kind_verdict(api_version: str, kind: str) -> tuple[str, KindInfo | None, _Problem | None]:
    """The group of a kind, what meshrc knows of it, and why it is an ``unknown-kind`` (None
    when it is not): once per (apiVersion, kind), not once per document.

    In a group meshrc knows every kind of, an unknown kind or version is a mistake the API
    server would refuse (an error); elsewhere it is most likely a CRD meshrc has no model of.
    """
    group, version = split_api_version(api_version)
    info = kind_info(api_version, kind)
    if info is not None:
        if info.serves(version):
            return group, info, None
        served = ", ".join(f"{group}/{v}" for v in sorted(info.versions))
        return (
            group,
            info,
            (f"{kind} is not served at {api_version} (served: {served})", "apiVersion", None),
        )
    if group in KNOWN_GROUPS:
        shown = f"the {group} group" if group else "the core group (v1)"
        message = f"{kind} is not a kind of {shown}: misspelt, or not a Kubernetes kind"
        return group, None, (message, "kind", None)
    message = f"{api_version} {kind} is a kind meshrc does not know: it is not checked"
    return group, None, (message, "", "info")


def _unknown_kind(
    origin: Origin, body: dict[str, Any], default_namespace: str, problem: _Problem
) -> Finding:
    message, field, severity = problem
    where: dict[str, Any] = {"kind": body["kind"], "file": origin.file, "line": origin.line}
    meta = body.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        namespace = meta.get("namespace")
        where["name"] = meta["name"]
        where["namespace"] = namespace if isinstance(namespace, str) else default_namespace
    if field:
        where["field"] = origin.field(field)
    if severity:
        where["severity"] = severity
    return Finding.of("unknown-kind", message, **where)


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
        findings.append(_schema(origin, origin.field(field), _describe(error, field), **where))
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
