"""Messages and scalar types shared by several Istio kinds.

The scalar aliases carry the bounds the CRDs declare (``UInt32`` is a proto ``uint32``,
``Int32`` a ``format: int32``), so that pydantic-core rejects out-of-range values natively
instead of a Python validator doing it per field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, Field, model_validator
from pydantic.fields import FieldInfo

from reconciler.model.base import IstioModel

__all__ = [
    "Duration",
    "ExclusiveFieldsModel",
    "Int32",
    "MatchLabelsWorkloadSelector",
    "NonNegativeDuration",
    "Percent",
    "PortSelector",
    "StringMatch",
    "UInt32",
    "UInt64",
    "WorkloadSelector",
    "deprecated",
    "duration_ns",
    "is_deprecated",
]

Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
UInt32 = Annotated[int, Field(ge=0, le=2**32 - 1)]
UInt64 = Annotated[int, Field(ge=0, le=2**64 - 1)]

# Go's time.ParseDuration grammar: an optional sign, then one or more "<decimal><unit>"
# (the decimal may be "1", "1.", "1.5" or ".5"), or a bare "0".
_UNIT = r"(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h)"
_DURATION_RE = re.compile(rf"([-+]?)((?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+){_UNIT})+|0)")
_PART_RE = re.compile(rf"([0-9]*)(?:\.([0-9]*))?({_UNIT})")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_MS = 1_000_000


def duration_ns(text: str) -> int:
    """Parse a Go duration ("1h2m", "1.5s", "300ms") into integer nanoseconds.

    Integers keep the value exact, so a check can test Istio's millisecond precision rule
    (``duration_ns(d) % 1_000_000 == 0``) without float rounding. Raises ``ValueError``.
    """
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r}: expected Go syntax such as '1.5s' or '300ms'")
    sign, body = match.groups()
    if body == "0":
        return 0
    total = 0
    for whole, fraction, unit in _PART_RE.findall(body):
        scale = _UNIT_NS[unit]
        total += int(whole or "0") * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
    return -total if sign == "-" else total


def _at_least_1ms(text: str) -> str:
    # The CRDs' CEL rule is duration(self) >= duration('1ms'); Envoy treats 0 as "disabled".
    if duration_ns(text) < _MS:
        raise ValueError(f"duration {text!r} must be at least 1ms")
    return text


def _not_negative(text: str) -> str:
    if duration_ns(text) < 0:
        raise ValueError(f"duration {text!r} must not be negative")
    return text


Duration = Annotated[str, AfterValidator(_at_least_1ms)]
"""A proto Duration whose CRD field carries the ``>= 1ms`` CEL rule; kept as the YAML text."""

NonNegativeDuration = Annotated[str, AfterValidator(_not_negative)]
"""A proto Duration whose CRD field has no CEL rule (e.g. cookie ``ttl``, where 0 is meaningful)."""


def deprecated(replacement: str, *, alias: str | None = None) -> Any:
    """An optional field Istio has deprecated; ``is_deprecated`` finds it for the IST0002 check.

    Marked through ``json_schema_extra`` rather than ``Field(deprecated=...)``, which would
    emit a ``DeprecationWarning`` on every attribute read, including the check's own.
    """
    return Field(
        default=None,
        alias=alias,
        description=f"Deprecated: use {replacement} instead.",
        json_schema_extra={"deprecated": True},
    )


def is_deprecated(field: FieldInfo) -> bool:
    """Whether ``field`` (from ``Model.model_fields``) was declared with ``deprecated()``."""
    extra = field.json_schema_extra
    return isinstance(extra, dict) and extra.get("deprecated") is True


class ExclusiveFieldsModel(IstioModel):
    """A message with proto ``oneof`` groups, which the CRDs encode as "at most one of".

    ``exclusive_fields`` lists each group by Python field name; the conformance test checks
    the groups against the CRD's ``oneOf`` clauses. The CRDs allow an empty group (e.g. a
    header match ``{}`` means "present"), so this does not require one member to be set.
    """

    exclusive_fields: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @model_validator(mode="after")
    def _check_exclusive_fields(self) -> Self:
        values = self.__dict__  # plain loops: this runs for every StringMatch of every document
        for group in self.exclusive_fields:
            count = 0
            for name in group:
                if values[name] is not None:
                    count += 1
            if count > 1:
                fields = type(self).model_fields
                names = [fields[name].alias or name for name in group if values[name] is not None]
                allowed = ", ".join(fields[name].alias or name for name in group)
                raise ValueError(f"only one of {allowed} may be set, got {' and '.join(names)}")
        return self


class StringMatch(ExclusiveFieldsModel):
    """How Istio matches a string (URI, header, authority, CORS origin)."""

    exclusive_fields = (("exact", "prefix", "regex"),)

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None


class PortSelector(IstioModel):
    """Selects a port of a service by number."""

    number: UInt32 | None = None


class Percent(IstioModel):
    """A percentage as a double, so fault injection and mirroring can go below 1%."""

    value: float | None = None


class WorkloadSelector(IstioModel):
    """networking.v1alpha3.WorkloadSelector (ServiceEntry): plain ``labels``."""

    labels: dict[str, Annotated[str, Field(max_length=63)]] | None = Field(
        default=None, max_length=256
    )


class MatchLabelsWorkloadSelector(IstioModel):
    """type.v1beta1.WorkloadSelector (DestinationRule): the same idea, spelled ``matchLabels``."""

    match_labels: dict[str, Annotated[str, Field(max_length=63)]] | None = Field(
        default=None, max_length=4096
    )
