"""Writers: one per ``-o`` format, each turning a :class:`~reconciler.findings.Report` into text.

Writers only format. The exit code is the report's (:meth:`Report.exit_code`), so every format
exits the same way; a writer is a pure function of the report and an :class:`OutputContext`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.errors import UsageError
from reconciler.findings import Report
from reconciler.output import github, json, junit, markdown, sarif, text
from reconciler.output.context import OutputContext


@dataclass(frozen=True)
class Writer:
    """A format's name, its one-line description for ``--help``, and its function."""

    name: str
    description: str
    write: Callable[[Report, OutputContext], str]

    def __call__(self, report: Report, context: OutputContext) -> str:
        return self.write(report, context)


WRITERS: dict[str, Writer] = {
    w.name: w
    for w in (
        Writer("text", "Lines grouped by file: file:line: severity code: message.", text.write),
        Writer("json", "All fields of all findings, with counts, for scripts.", json.write),
        Writer("sarif", "SARIF 2.1.0 for GitHub code scanning and SARIF viewers.", sarif.write),
        Writer("junit", "JUnit XML for CI test reports (GitLab, Jenkins).", junit.write),
        Writer("github", "GitHub Actions annotations on the pull request diff.", github.write),
        Writer("markdown", "A pull request comment with a findings table.", markdown.write),
    )
}

FORMATS: list[str] = list(WRITERS)
"""Format names in ``--help`` order, for ``click.Choice(FORMATS)``."""


def formats_help() -> str:
    """One ``name: description`` line per format, for the ``-o`` option's help text."""
    return "\n".join(f"{w.name}: {w.description}" for w in WRITERS.values())


def get_writer(name: str) -> Writer:
    """The writer of format ``name``; an unknown name is a usage error (exit code 2)."""
    try:
        return WRITERS[name]
    except KeyError:
        raise UsageError(
            f"unknown output format {name!r}; choose one of: {', '.join(FORMATS)}"
        ) from None


__all__ = ["FORMATS", "WRITERS", "OutputContext", "Writer", "formats_help", "get_writer"]
