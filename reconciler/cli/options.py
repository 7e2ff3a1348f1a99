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


def output_option(formats: list[str], help: str = "Output format.") -> Callable[[F], F]:
    """``-o/--output FORMAT``, the first of ``formats`` by default, into ``output_format``."""
    return click.option(
        "-o",
        "--output",
        "output_format",
        type=click.Choice(formats),
        default=formats[0],
        show_default=True,
        help=help,
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


def state_options(command: F) -> F:
    """``--state URL --state-dir DIR``: where the history of syncs is kept."""
    for decorator in reversed(
        [
            click.option(
                "--state",
                metavar="URL",
                envvar="MESHRC_STATE",
                show_envvar=True,
                help="History database: sqlite:///PATH or postgresql://user@host:port/db "
                "(default: SQLite in --state-dir). Put a password in PGPASSWORD, not here.",
            ),
            click.option(
                "--state-dir",
                metavar="DIR",
                type=click.Path(file_okay=False, path_type=Path),
                envvar="MESHRC_STATE_DIR",
                show_envvar=True,
                default=_default_state_dir,
                show_default="~/.local/state/meshrc, or $XDG_STATE_HOME/meshrc",
                help="meshrc's state on this machine (the history, unless --state is given).",
            ),
        ]
    ):
        command = decorator(command)
    return command


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "meshrc"


def default_cache_dir() -> Path:
    """$MESHRC_CACHE_DIR, else $XDG_CACHE_HOME/meshrc, else ~/.cache/meshrc."""
    if env := os.environ.get("MESHRC_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "meshrc"


def use_color(color: str, output_format: str) -> bool:
    """``always``; or ``auto`` for text on a terminal, unless NO_COLOR is set."""
    return color == "always" or (
        color == "auto"
        and output_format in ("text", "table")
        and sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
    )


def progress(message: str) -> None:
    """A step of long work, on stderr when a person watches it."""
    if sys.stderr.isatty():
        click.echo(f"{message}...", err=True)
