"""Fields Istio deprecated, found through the models' own ``deprecated()`` markers (IST0002).

Which model classes can hold a deprecated field is worked out once per class, so the walk
skips the (many) subtrees that cannot contain one.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel

from reconciler.findings import Finding
from reconciler.model.common import is_deprecated
from reconciler.model.snapshot import Snapshot


def check_deprecated_fields(snap: Snapshot) -> Iterator[Finding]:
    for resource in snap.resources():
        spec = resource.spec
        if isinstance(spec, BaseModel) and _may_hold_deprecated(type(spec)):
            for path, description in _deprecated_in(spec, "spec"):
                yield Finding.of(
                    "deprecated", f"{path} is deprecated. {description}", **resource.where(path)
                )


def _deprecated_in(model: BaseModel, path: str) -> Iterator[tuple[str, str]]:
    deprecated, nested = _plan(type(model))
    fields = type(model).model_fields
    for name in deprecated:
        if getattr(model, name) is not None:
            info = fields[name]
            yield f"{path}.{info.alias or name}", info.description or ""
    for name in nested:
        value = getattr(model, name)
        if value is not None:
            yield from _walk_value(value, f"{path}.{fields[name].alias or name}")


def _walk_value(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, BaseModel):
        yield from _deprecated_in(value, path)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk_value(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_value(item, f"{path}.{key}")


@cache
def _plan(model: type[BaseModel]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The deprecated fields of ``model``, and the fields whose values may hold some."""
    fields = model.model_fields
    deprecated = tuple(name for name, info in fields.items() if is_deprecated(info))
    nested = tuple(
        name
        for name, info in fields.items()
        if any(_may_hold_deprecated(t) for t in _model_types(info.annotation))
    )
    return deprecated, nested


@cache
def _may_hold_deprecated(model: type[BaseModel]) -> bool:
    deprecated, nested = _plan(model)
    return bool(deprecated or nested)


def _model_types(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _model_types(arg)
