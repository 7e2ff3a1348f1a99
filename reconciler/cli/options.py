"""Options every meshrc command spells the same way, and the rules behind them."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

color_option = click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour text output (auto: only on a terminal, and not with NO_COLOR).",
)
namespace_option = click.option(
    "--namespace", default="default", show_default=True, help="Namespace of objects that name none."
)


def tree_options(command: F) -> F:
    """``[PATH] [--repo URL --ref REF] [--path SUBDIR]``: a folder, or a commit."""
    for decorator in reversed(
        [
            click.argument("path", required=False, type=click.Path(path_type=Path)),
            click.option(
                "--repo", metavar="URL|PATH", help="Read manifests from this Git repository."
            ),
            click.option("--ref", metavar="REF", help="Branch, tag or commit (default HEAD)."),
            click.option(
                "--path", "subdir", metavar="SUBDIR", help="Only the manifests under this folder."
            ),
        ]
    ):
        command = decorator(command)
    return command


def use_color(color: str, output_format: str) -> bool:
    """``always``; or ``auto`` for text on a terminal, unless NO_COLOR is set."""
    return color == "always" or (
        color == "auto"
        and output_format == "text"
        and sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
    )


def progress(message: str) -> None:
    """A step of long work, on stderr when a person watches it."""
    if sys.stderr.isatty():
        click.echo(f"{message}...", err=True)
