"""The spec models against Istio's own CRDs: same fields, same aliases, compatible types.

For every kind and served version in the CRD file, the OpenAPI schema of ``spec`` is walked
together with the pydantic model. At every object level the property names must equal the
model's aliases (so a wrong alias shows up as one missing and one extra field), required
fields and ``oneOf`` groups must agree, enums must equal the ``Literal`` values, and bounds
(minimum, maxLength, maxItems, ...) must be at least as tight in the model as in the CRD.

The CRD file is read from ``$MESHRC_ISTIO_CRDS``, ``tests/testdata/`` or the shared testdata
directory; a missing file fails the test rather than skipping it.
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import pytest
import yaml
from pydantic import BaseModel, Field, create_model
from pydantic.fields import FieldInfo

from reconciler.model import (
    common,
    destinationrule,
    gateway,
    security,
    serviceentry,
    sidecar,
    virtualservice,
    workloadentry,
)
from reconciler.model.base import IstioModel
from reconciler.model.common import Duration, ExclusiveFieldsModel, NonNegativeDuration

CRD_FILE_NAME = "istio-networking-crds.yaml"
SIDECAR_CRD = Path(__file__).parents[1] / "testdata" / "istio-sidecar-crd.yaml"
"""Not in the shared CRD file: taken from istio/istio at the same API level (see its header)."""
ALL_ISTIO_CRDS = Path(__file__).parents[1] / "testdata" / "istio-crds.yaml"
"""Every CRD of istio/istio HEAD (see its header): the security.istio.io ones are read from it,
served at v1 and v1beta1 only."""
SECURITY_VERSIONS = ("v1", "v1beta1")
SECURITY_SPECS: dict[str, type[BaseModel]] = {
    "AuthorizationPolicy": security.AuthorizationPolicySpec,
    "PeerAuthentication": security.PeerAuthenticationSpec,
    "RequestAuthentication": security.RequestAuthenticationSpec,
}
VERSIONS = ("v1", "v1beta1", "v1alpha3")
SPECS: dict[str, type[BaseModel]] = {
    "VirtualService": virtualservice.VirtualServiceSpec,
    "DestinationRule": destinationrule.DestinationRuleSpec,
    "Gateway": gateway.GatewaySpec,
    "ServiceEntry": serviceentry.ServiceEntrySpec,
    "WorkloadEntry": workloadentry.WorkloadEntrySpec,
    "Sidecar": sidecar.SidecarSpec,
}
ISTIO_MODULES = (
    common,
    virtualservice,
    destinationrule,
    gateway,
    serviceentry,
    workloadentry,
    sidecar,
    security,
)


def _crd_path() -> Path:
    candidates = [
        os.environ.get("MESHRC_ISTIO_CRDS"),
        Path(__file__).parents[1] / "testdata" / CRD_FILE_NAME,
        Path("/work/shared/testdata") / CRD_FILE_NAME,
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.fail(f"{CRD_FILE_NAME} not found; set MESHRC_ISTIO_CRDS or copy it to tests/testdata/")


@cache
def _spec_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, version) -> the OpenAPI schema of ``spec``."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    sources = ((_crd_path(), None), (SIDECAR_CRD, None), (ALL_ISTIO_CRDS, "security.istio.io"))
    for path, group in sources:
        with path.open(encoding="utf-8") as stream:
            docs = list(yaml.safe_load_all(stream))
        for doc in docs:
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            if group is not None and doc["spec"]["group"] != group:
                continue
            kind = doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                root = version["schema"]["openAPIV3Schema"]
                schemas[kind, version["name"]] = root["properties"]["spec"]
    return schemas


def _node(kind: str, version: str, path: str) -> dict[str, Any]:
    """The schema at a dotted path such as ``http[].route[].destination``."""
    node = _spec_schemas()[kind, version]
    for part in path.split("."):
        name, brackets = part.rstrip("[]"), part.count("[]")
        node = node["properties"][name]
        for _ in range(brackets):
            node = node["items"]
    return node


# --- walking a type annotation ------------------------------------------------------------


@dataclass
class Shape:
    """A field's type with Optional and Annotated peeled off, and the constraints gathered."""

    core: Any
    metadata: list[Any]

    def has(self, annotated: Any) -> bool:
        """Whether all of an ``Annotated`` alias's metadata (e.g. ``Duration``'s) was seen."""
        return all(item in self.metadata for item in get_args(annotated)[1:])


def _shape(annotation: Any, metadata: list[Any] | None = None) -> Shape:
    gathered = list(metadata or [])
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            args = get_args(annotation)
            annotation = args[0]
            for item in args[1:]:
                gathered.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return Shape(Union[tuple(members)], gathered)  # noqa: UP007 - runtime union
            annotation = members[0]
        else:
            return Shape(annotation, gathered)


def _bounds(shape: Shape) -> dict[str, float]:
    """The model's effective bounds, by the OpenAPI keyword they correspond to."""
    found: dict[str, float] = {}
    for item in shape.metadata:
        if isinstance(item, annotated_types.Ge):
            found["minimum"] = float(item.ge)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Gt):
            found["minimum"] = float(item.gt) + 1e-9  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            found["maximum"] = float(item.le)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Lt):
            found["maximum"] = float(item.lt) - 1e-9  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.MinLen):
            found["min"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            found["max"] = item.max_length
    return found


_LENGTH_KEYWORDS = {
    "string": ("minLength", "maxLength"),
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties"),
}


def _is_duration_rule(schema: dict[str, Any]) -> bool:
    return any(
        "duration(self)" in rule["rule"] for rule in schema.get("x-kubernetes-validations", [])
    )


def _one_of_groups(schema: dict[str, Any]) -> set[frozenset[str]]:
    """The "at most one of" groups the CRD encodes as ``oneOf: [not anyOf..., required...]``."""
    clauses = [schema["oneOf"]] if "oneOf" in schema else []
    clauses += [part["oneOf"] for part in schema.get("allOf", []) if "oneOf" in part]
    groups = set()
    for clause in clauses:
        names = {name for option in clause for name in option.get("required", [])}
        groups.add(frozenset(names))
    return groups


# --- comparing ----------------------------------------------------------------------------


@dataclass
class Conformance:
    """Walks a schema and a model together and records every disagreement with its path."""

    problems: list[str] = field(default_factory=list)
    visited: set[type[BaseModel]] = field(default_factory=set)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def compare_model(self, schema: dict[str, Any], model: type[BaseModel], path: str) -> None:
        self.visited.add(model)
        fields = {info.alias or name: (name, info) for name, info in model.model_fields.items()}
        properties: dict[str, Any] = schema.get("properties", {})
        for alias in sorted(properties.keys() - fields.keys()):
            self.problem(f"{path}.{alias}", f"in the CRD, missing from {model.__name__}")
        for alias in sorted(fields.keys() - properties.keys()):
            name = fields[alias][0]
            self.problem(f"{path}.{alias}", f"{model.__name__}.{name} is not in the CRD")

        crd_required = set(schema.get("required", [])) & properties.keys()
        model_required = {alias for alias, (_, info) in fields.items() if info.is_required()}
        if crd_required != model_required:
            self.problem(
                path,
                f"required in CRD {sorted(crd_required)}, in {model.__name__} "
                f"{sorted(model_required)}",
            )

        self._compare_groups(schema, model, path)

        for alias in sorted(properties.keys() & fields.keys()):
            _, info = fields[alias]
            self.compare(
                properties[alias], _shape(info.annotation, info.metadata), f"{path}.{alias}"
            )

    def _compare_groups(self, schema: dict[str, Any], model: type[BaseModel], path: str) -> None:
        declared = getattr(model, "exclusive_fields", ())
        model_groups = set()
        for group in declared:
            aliases = set()
            for name in group:
                info = model.model_fields.get(name)
                if info is None:
                    self.problem(path, f"exclusive_fields names unknown field {name!r}")
                    continue
                aliases.add(info.alias or name)
            model_groups.add(frozenset(aliases))
        crd_groups = _one_of_groups(schema)
        if model_groups != crd_groups:
            show = sorted(sorted(group) for group in crd_groups)
            self.problem(
                path, f"oneOf groups {show} != exclusive_fields {sorted(map(sorted, model_groups))}"
            )

    def compare(self, schema: dict[str, Any], shape: Shape, path: str) -> None:
        core = shape.core
        self._compare_bounds(schema, shape, path)
        if schema.get("x-kubernetes-int-or-string"):
            if set(get_args(core)) != {int, str}:
                self.problem(path, f"int-or-string in the CRD, {core!r} in the model")
            return
        kind = schema.get("type")
        if kind == "string":
            self._compare_string(schema, shape, path)
        elif kind in ("integer", "number", "boolean"):
            self._compare_scalar(schema, core, path)
        elif kind == "array":
            if get_origin(core) is not list:
                self.problem(path, f"array in the CRD, {core!r} in the model")
                return
            self.compare(schema["items"], _shape(get_args(core)[0]), f"{path}[]")
        elif kind == "object" and "properties" in schema:
            if not (isinstance(core, type) and issubclass(core, BaseModel)):
                self.problem(path, f"object with properties in the CRD, {core!r} in the model")
                return
            self.compare_model(schema, core, path)
        elif kind == "object":
            if get_origin(core) is not dict or get_args(core)[0] is not str:
                self.problem(path, f"map in the CRD, {core!r} in the model")
                return
            values = schema.get("additionalProperties")
            if isinstance(values, dict):
                self.compare(values, _shape(get_args(core)[1]), f"{path}{{}}")
        else:
            self.problem(path, f"unhandled CRD type {kind!r}")

    def _compare_string(self, schema: dict[str, Any], shape: Shape, path: str) -> None:
        core = shape.core
        if _is_duration_rule(schema):
            if not (core is str and shape.has(Duration)):
                self.problem(path, f"a duration >= 1ms in the CRD, {core!r} in the model")
        elif "enum" in schema:
            if get_origin(core) is not Literal:
                self.problem(path, f"enum in the CRD, {core!r} in the model")
            elif set(get_args(core)) != set(schema["enum"]):
                self.problem(path, f"enum {schema['enum']} != Literal{list(get_args(core))}")
        elif core is not str:
            self.problem(path, f"string in the CRD, {core!r} in the model")
        elif shape.has(Duration):
            self.problem(path, "Duration (>= 1ms) in the model but no such rule in the CRD")
        elif shape.has(NonNegativeDuration) and "format" in schema:
            self.problem(path, f"duration in the model, format {schema['format']} in the CRD")

    def _compare_scalar(self, schema: dict[str, Any], core: Any, path: str) -> None:
        kind = schema["type"]
        expected: dict[str, tuple[Any, ...]] = {
            "integer": (int,),
            "number": (float, Union[int, float]),  # noqa: UP007 - runtime union
            "boolean": (bool,),
        }
        if "enum" in schema:
            if get_origin(core) is not Literal or set(get_args(core)) != set(schema["enum"]):
                self.problem(path, f"enum {schema['enum']} in the CRD, {core!r} in the model")
        elif core not in expected[kind]:
            self.problem(path, f"{kind} in the CRD, {core!r} in the model")

    def _compare_bounds(self, schema: dict[str, Any], shape: Shape, path: str) -> None:
        bounds = _bounds(shape)
        if "minimum" in schema and bounds.get("minimum", float("-inf")) < schema["minimum"]:
            self.problem(path, f"CRD minimum {schema['minimum']}, model {bounds.get('minimum')}")
        if "maximum" in schema and bounds.get("maximum", float("inf")) > schema["maximum"]:
            self.problem(path, f"CRD maximum {schema['maximum']}, model {bounds.get('maximum')}")
        low_key, high_key = _LENGTH_KEYWORDS.get(schema.get("type", ""), ("", ""))
        if low_key in schema and bounds.get("min", 0) < schema[low_key]:
            self.problem(path, f"CRD {low_key} {schema[low_key]}, model {bounds.get('min')}")
        if high_key in schema and bounds.get("max", float("inf")) > schema[high_key]:
            self.problem(path, f"CRD {high_key} {schema[high_key]}, model {bounds.get('max')}")


def _check(schema: dict[str, Any], model: type[BaseModel], path: str) -> Conformance:
    walk = Conformance()
    walk.compare_model(schema, model, path)
    return walk


# --- the conformance tests ----------------------------------------------------------------


def test_crd_file_has_every_kind_and_version() -> None:
    expected = {(kind, version) for kind in SPECS for version in VERSIONS}
    assert expected <= _spec_schemas().keys()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", sorted(SPECS))
def test_spec_model_conforms_to_crd(kind: str, version: str) -> None:
    walk = _check(_spec_schemas()[kind, version], SPECS[kind], f"{kind}.spec")
    assert walk.problems == []


def test_security_crd_file_has_every_kind_and_version() -> None:
    expected = {(kind, version) for kind in SECURITY_SPECS for version in SECURITY_VERSIONS}
    assert expected <= _spec_schemas().keys()


@pytest.mark.parametrize("version", SECURITY_VERSIONS)
@pytest.mark.parametrize("kind", sorted(SECURITY_SPECS))
def test_security_spec_model_conforms_to_crd(kind: str, version: str) -> None:
    walk = _check(_spec_schemas()[kind, version], SECURITY_SPECS[kind], f"{kind}.spec")
    assert walk.problems == []


def _istio_models() -> Iterator[type[BaseModel]]:
    for module in ISTIO_MODULES:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, IstioModel)
                and value.__module__ == module.__name__
                and value is not ExclusiveFieldsModel
            ):
                yield value


def test_every_istio_model_is_reached_from_a_crd() -> None:
    """A model no CRD path reaches would escape the comparison above."""
    reached: set[type[BaseModel]] = set()
    for (kind, version), schema in _spec_schemas().items():
        if kind in SPECS and version in VERSIONS:
            reached |= _check(schema, SPECS[kind], kind).visited
        elif kind in SECURITY_SPECS and version in SECURITY_VERSIONS:
            reached |= _check(schema, SECURITY_SPECS[kind], kind).visited
    unreached = {model.__name__ for model in _istio_models()} - {m.__name__ for m in reached}
    assert unreached == set()


@pytest.mark.parametrize("model", list(_istio_models()), ids=lambda model: model.__name__)
def test_no_field_name_shadows_another_alias(model: type[BaseModel]) -> None:
    """With populate_by_name, a field named like another field's alias reads that key twice."""
    aliases = {info.alias or name: name for name, info in model.model_fields.items()}
    clashes = {name for name in model.model_fields if aliases.get(name, name) != name}
    assert clashes == set()


def test_crd_deprecations_are_marked_in_the_model() -> None:
    """Fields the CRD describes as deprecated must be visible to the deprecation check."""
    unmarked: list[str] = []

    def visit(schema: dict[str, Any], model: type[BaseModel], path: str) -> None:
        for name, info in model.model_fields.items():
            alias = info.alias or name
            prop = schema.get("properties", {}).get(alias, {})
            if prop.get("description", "").startswith("Deprecated") and not common.is_deprecated(
                info
            ):
                unmarked.append(f"{path}.{alias}")
            shape = _shape(info.annotation)
            while get_origin(shape.core) in (list, dict):
                prop = prop.get("items") or prop.get("additionalProperties") or {}
                shape = _shape(get_args(shape.core)[-1])
            if isinstance(shape.core, type) and issubclass(shape.core, BaseModel):
                visit(prop, shape.core, f"{path}.{alias}")

    for kind, model in {**SPECS, **SECURITY_SPECS}.items():
        visit(_spec_schemas()[kind, "v1"], model, kind)
    assert unmarked == []


# --- the comparison itself can fail -------------------------------------------------------


def _copy_model(model: type[BaseModel], *, drop: str = "", **replace: Any) -> type[BaseModel]:
    """A copy of ``model`` without field ``drop`` and with the fields in ``replace``."""
    definitions: dict[str, Any] = {
        name: (info.annotation, info) for name, info in model.model_fields.items() if name != drop
    }
    definitions.update(replace)
    return create_model(f"Broken{model.__name__}", __base__=model.__bases__[0], **definitions)


def test_a_dropped_field_is_reported_with_its_path() -> None:
    broken = _copy_model(virtualservice.Destination, drop="subset")
    schema = _node("VirtualService", "v1", "http[].route[].destination")
    walk = _check(schema, broken, "spec.http[].route[].destination")
    assert walk.problems == [
        "spec.http[].route[].destination.subset: in the CRD, missing from BrokenDestination"
    ]


def test_a_dropped_field_deep_inside_is_reported() -> None:
    broken_destination = _copy_model(virtualservice.Destination, drop="port")
    broken_route = _copy_model(
        virtualservice.HTTPRouteDestination, destination=(broken_destination, ...)
    )
    schema = _node("VirtualService", "v1", "http[].route[]")
    walk = _check(schema, broken_route, "spec.http[].route[]")
    assert "spec.http[].route[].destination.port: in the CRD, missing from BrokenDestination" in (
        walk.problems
    )


def test_a_wrong_alias_is_reported_as_missing_and_extra() -> None:
    """Without its explicit alias, to_camel spells consecutive_5xx_errors wrongly."""
    info = destinationrule.OutlierDetection.model_fields["consecutive_5xx_errors"]
    broken = _copy_model(
        destinationrule.OutlierDetection,
        consecutive_5xx_errors=(info.annotation, None),
    )
    walk = _check(_node("DestinationRule", "v1", "trafficPolicy.outlierDetection"), broken, "od")
    assert walk.problems == [
        "od.consecutive5xxErrors: in the CRD, missing from BrokenOutlierDetection",
        "od.consecutive5XxErrors: BrokenOutlierDetection.consecutive_5xx_errors is not in the CRD",
    ]


def test_a_wrong_type_is_reported() -> None:
    broken = _copy_model(virtualservice.RouteDestination, weight=(str | None, None))
    walk = _check(_node("VirtualService", "v1", "tcp[].route[]"), broken, "r")
    assert walk.problems == ["r.weight: integer in the CRD, <class 'str'> in the model"]


def test_a_plain_str_for_a_duration_is_reported() -> None:
    broken = _copy_model(virtualservice.HTTPRoute, timeout=(str | None, None))
    walk = _check(_node("VirtualService", "v1", "http[]"), broken, "h")
    assert walk.problems == ["h.timeout: a duration >= 1ms in the CRD, <class 'str'> in the model"]


def test_a_narrower_enum_is_reported() -> None:
    broken = _copy_model(
        destinationrule.ClientTLSSettings,
        mode=(Literal["DISABLE", "SIMPLE", "MUTUAL"] | None, None),
    )
    walk = _check(_node("DestinationRule", "v1", "trafficPolicy.tls"), broken, "tls")
    assert len(walk.problems) == 1
    assert walk.problems[0].startswith("tls.mode: enum")


def test_a_missing_bound_and_a_missing_oneof_are_reported() -> None:
    broken = _copy_model(serviceentry.ServicePort, number=(int, ...))  # no UInt32 bounds
    walk = _check(_node("ServiceEntry", "v1", "ports[]"), broken, "p")
    assert walk.problems == [
        "p.number: CRD minimum 0, model None",
        "p.number: CRD maximum 4294967295, model None",
    ]

    class LooseAbort(IstioModel):
        http_status: int | None = None
        grpc_status: str | None = None
        http2_error: str | None = Field(default=None, alias="http2Error")
        percentage: common.Percent | None = None

    walk = _check(_node("VirtualService", "v1", "http[].fault.abort"), LooseAbort, "a")
    assert len(walk.problems) == 1
    assert walk.problems[0].startswith(
        "a: oneOf groups [['grpcStatus', 'http2Error', 'httpStatus']]"
    )


def test_a_required_mismatch_is_reported() -> None:
    broken = _copy_model(virtualservice.Destination, host=(str | None, None))
    walk = _check(_node("VirtualService", "v1", "http[].mirror"), broken, "m")
    assert walk.problems == ["m: required in CRD ['host'], in BrokenDestination []"]
