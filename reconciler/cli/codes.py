"""``meshrc codes``: the catalogue of finding codes, for people and for scripts."""

from __future__ import annotations

import json

import click

from reconciler.cli.options import output_option
from reconciler.codes import CODES


@click.command()
@output_option(["text", "json"])
def codes(output_format: str) -> None:
    """List the finding codes: severity, meaning, and Istio's or Kiali's code.

    Use a code with --ignore, or in a meshrc.io/ignore annotation, to silence it.
    """
    ordered = sorted(CODES.values(), key=lambda c: (-c.severity.rank, c.name))
    if output_format == "json":
        rows = [
            {
                "code": c.name,
                "severity": c.severity.value,
                "milder": c.milder.value if c.milder else None,
                "summary": c.summary,
                "istio_code": c.istio_code,
                "kiali_code": c.kiali_code,
            }
            for c in ordered
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(c.name) for c in ordered)
    for c in ordered:
        refs = ", ".join(x for x in (c.istio_code, c.kiali_code) if x)
        suffix = f" [{refs}]" if refs else ""
        severity = f"{c.severity.value}/{c.milder.value}" if c.milder else c.severity.value
        click.echo(f"{c.name:<{width}}  {severity:<13}  {c.summary}{suffix}")
