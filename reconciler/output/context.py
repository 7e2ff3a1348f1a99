"""What a writer needs to know besides the findings: where, against which commits, how shown.

Writers only format, so everything that changes their output lives here and nothing else:
the same report and the same context always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler import __version__
from reconciler.codes import Severity


@dataclass(frozen=True, slots=True)
class OutputContext:
    """Options shared by all writers; each writer reads only the fields that apply to it."""

    color: bool = False
    """ANSI colours in the text format (the CLI sets it for a terminal, never for a file)."""
    tool_version: str = __version__
    base: str | None = None
    """Commit the PR is compared with; with ``head`` set, "new" findings are told apart."""
    head: str | None = None
    fail_on: Severity = Severity.ERROR
    """Findings at or above it are shown as failures (JUnit); the exit code is not decided here."""
    root: str | None = None
    """Repository root: absolute file paths under it are written relative to it."""
    title: str = "meshrc check"
    extra_sections: Sequence[str] = ()
    """Markdown blocks appended to the PR comment (hook for a later "routing changes" section)."""
    anchor_file: str | None = None
    """Repo-relative file that SARIF results without a file point at: GitHub code scanning
    rejects a whole upload when one result has no location. ``None`` leaves them unlocated."""

    @property
    def comparing(self) -> bool:
        """Whether this run compares two commits, so that ``Finding.new`` is meaningful."""
        return self.base is not None or self.head is not None
