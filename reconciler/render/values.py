"""Istio values in Envoy's JSON spelling: durations, percentages, typed configs."""

from __future__ import annotations

from typing import Any

from reconciler.model.common import Percent, duration_ns

MILLION = 1_000_000
NO_LIMIT = 4_294_967_295
"""What istiod puts in a circuit-breaker threshold the DestinationRule leaves unset."""


def duration(go_duration: str) -> str:
    """A Go duration ("1.5s", "300ms", "1h") as a protobuf JSON Duration ("1.500s")."""
    return seconds(duration_ns(go_duration))


def seconds(nanoseconds: int) -> str:
    whole, fraction = divmod(nanoseconds, 1_000_000_000)
    if not fraction:
        return f"{whole}s"
    return f"{whole}.{fraction:09d}".rstrip("0") + "s"


def fraction_of(percent: float) -> dict[str, Any]:
    """A percentage as Envoy's FractionalPercent (per million, as istiod writes it)."""
    return {"numerator": round(percent * 10_000), "denominator": "MILLION"}


def percent_value(percentage: Percent | None, legacy: int | None = None) -> float | None:
    """The percentage of ``percentage`` (or an integer ``percent`` Istio deprecated)."""
    if percentage is not None and percentage.value is not None:
        return percentage.value
    return None if legacy is None else float(legacy)


def typed(type_name: str, **fields: Any) -> dict[str, Any]:
    """An ``Any`` of ``type_name`` (without the type.googleapis.com/ prefix)."""
    return {"@type": f"type.googleapis.com/{type_name}", **fields}
