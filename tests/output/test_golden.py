"""Golden tests: each (report, context, format) against a reviewed file in ``golden/``.

Regenerate with ``python -m pytest tests/output --update-goldens`` and review the diff.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.findings import Report
from reconciler.output import FORMATS, OutputContext, get_writer

from . import samples

GOLDEN = Path(__file__).parent / "golden"
EXTENSIONS = {
    "text": "txt",
    "json": "json",
    "sarif": "sarif",
    "junit": "xml",
    "github": "txt",
    "markdown": "md",
}

Case = tuple[str, Callable[[], Report], OutputContext, list[str]]
CASES: list[Case] = [
    ("mixed", samples.mixed, samples.PR, FORMATS),
    ("empty", samples.empty, samples.LOCAL, FORMATS),
    ("plain", samples.plain, samples.LOCAL, ["text", "junit", "markdown", "sarif"]),
    ("many-old", samples.many_old, samples.PR, ["markdown"]),
]
PARAMS = [
    pytest.param(name, report, context, fmt, id=f"{name}-{fmt}")
    for name, report, context, formats in CASES
    for fmt in formats
]


def test_every_format_has_a_golden_extension() -> None:
    assert set(EXTENSIONS) == set(FORMATS)


@pytest.mark.parametrize(("name", "report", "context", "fmt"), PARAMS)
def test_golden(
    name: str,
    report: Callable[[], Report],
    context: OutputContext,
    fmt: str,
    update_goldens: bool,
) -> None:
    path = GOLDEN / f"{name}-{fmt}.{EXTENSIONS[fmt]}"
    actual = get_writer(fmt)(report(), context)
    if update_goldens:
        path.write_text(actual, encoding="utf-8", newline="")
    assert path.exists(), f"no golden {path.name}: run pytest tests/output --update-goldens"
    assert actual == path.read_bytes().decode("utf-8")


@pytest.mark.parametrize(("name", "report", "context", "fmt"), PARAMS)
def test_deterministic_and_independent_of_input_order(
    name: str, report: Callable[[], Report], context: OutputContext, fmt: str
) -> None:
    write = get_writer(fmt)
    first = report()
    shuffled = list(first.findings)
    random.Random(name).shuffle(shuffled)
    reordered = Report.build(
        reversed(shuffled),
        checked_files=first.checked_files,
        checked_resources=first.checked_resources,
        not_checked=reversed(first.not_checked),
    )
    assert write(first, context) == write(report(), context) == write(reordered, context)
