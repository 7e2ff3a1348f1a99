"""Helpers shared by the writers, so that every format names places and counts the same way.

Anything two writers would otherwise spell twice lives here: paths relative to the repo root,
the ``Kind namespace/name`` label, the one-line form of a finding, counts and plurals, and
the removal of control characters that a manifest could smuggle into a terminal or a page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import PurePath

from reconciler.codes import Severity
from reconciler.findings import Finding, Report

SEVERITIES: tuple[Severity, ...] = (Severity.ERROR, Severity.WARNING, Severity.INFO)
"""Most severe first: the order of every count a writer prints."""

NO_FILE = "(no file)"

Style = Callable[[str, str], str]
"""``style(role, text)``: how a writer decorates text; roles are severity values, "dim", "bold"."""


def plain(role: str, text: str) -> str:
    """The style that decorates nothing."""
    return text


def display_path(file: str, root: str | None) -> str:
    """``file`` as a POSIX path, relative to ``root`` when it is an absolute path under it."""
    path = PurePath(file)
    if root is not None and path.is_absolute() and path.is_relative_to(root):
        path = path.relative_to(root)
    return path.as_posix()


def finding_path(finding: Finding, root: str | None) -> str | None:
    """The display path of the finding's file, or ``None`` when it has none."""
    return display_path(finding.file, root) if finding.file else None


def line_of(finding: Finding) -> int | None:
    """The 1-based line, or ``None``: a line below 1 is no place an editor can go to."""
    return finding.line if finding.line is not None and finding.line >= 1 else None


def location(finding: Finding, root: str | None) -> str:
    """``file:line``, ``file`` or ``(no file)``."""
    path = finding_path(finding, root)
    if path is None:
        return NO_FILE
    line = line_of(finding)
    return path if line is None else f"{path}:{line}"


def resource_label(finding: Finding) -> str | None:
    """``Kind namespace/name`` with whatever parts are known, or ``None`` if none is."""
    ref = "/".join(p for p in (finding.namespace, finding.name) if p)
    label = " ".join(p for p in (finding.kind, ref) if p)
    return label or None


def detail(finding: Finding, *, mark_new: bool = True) -> str:
    """The message with a ``[new]`` marker and the resource: what follows the code."""
    text = finding.message
    if finding.new and mark_new:
        text += " [new]"
    resource = resource_label(finding)
    return f"{text} ({resource})" if resource else text


def finding_line(finding: Finding, root: str | None, style: Style = plain) -> str:
    """``file:line: severity code: detail``; continuation lines are indented so that only the
    first line of a finding starts with its location (grep and problem matchers rely on it)."""
    where = style("dim", visible(location(finding, root), keep="") + ":")
    severity = style(finding.severity.value, finding.severity.value)
    text = visible(f"{finding.code}: {detail(finding)}").replace("\n", "\n    ")
    return f"{where} {severity} {text}"


def group_by_file(findings: Iterable[Finding], root: str | None) -> dict[str, list[Finding]]:
    """Findings per display path (``(no file)`` for none), in the order they first appear."""
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding_path(finding, root) or NO_FILE, []).append(finding)
    return groups


def is_failing(finding: Finding, fail_on: Severity) -> bool:
    """Whether the finding is at or above ``--fail-on`` (the same test as ``Report.failing``)."""
    return finding.severity.rank >= fail_on.rank


def plural(count: int, noun: str) -> str:
    """``1 error``, ``2 errors``; "info" is a mass noun and never takes an s."""
    return f"{count} {noun}" if count == 1 or noun == "info" else f"{count} {noun}s"


def count_phrase(report: Report, *, skip_zero: bool = False) -> str:
    """``3 errors, 1 warning, 0 info``, or with ``skip_zero`` only the severities present."""
    counts = report.counts()
    parts = [plural(counts[s], s.value) for s in SEVERITIES if counts[s] or not skip_zero]
    return ", ".join(parts)


def summary_line(report: Report) -> str:
    """``3 errors, 1 warning, 0 info in 12 files (40 resources)`` or ``No findings in ...``,
    then the kinds read but not checked (``; 3 AuthorizationPolicies not checked``)."""
    scope = (
        f"in {plural(report.checked_files, 'file')} "
        f"({plural(report.checked_resources, 'resource')})"
    )
    line = f"{count_phrase(report)} {scope}" if report.findings else f"No findings {scope}"
    unchecked = report.not_checked_counts()
    if unchecked:
        kinds = ", ".join(
            f"{count} {kind_plural(kind, count)}" for kind, count in unchecked.items()
        )
        line += f"; {kinds} not checked"
    return line


def kind_plural(kind: str, count: int) -> str:
    """``AuthorizationPolicy`` -> ``AuthorizationPolicies``, ``Ingress`` -> ``Ingresses``."""
    if count == 1:
        return kind
    if kind.endswith("y") and kind[-2:-1] not in "aeiou":
        return kind[:-1] + "ies"
    if kind.endswith(("s", "x", "ch", "sh")):
        return kind + "es"
    return kind + "s"


_CONTROL_RANGES = (
    "\x00-\x1f\x7f-\x9f"  # C0 and C1 controls: terminal escapes, invalid in XML 1.0
    "\u202a-\u202e\u2066-\u2069"  # bidirectional overrides: text that reads otherwise
    "\ud800-\udfff\ufffe\uffff"  # lone surrogates and non-characters: unencodable
)


@cache
def _unsafe(keep: str) -> re.Pattern[str]:
    kept = "".join(re.escape(c) for c in keep)
    return re.compile(f"(?![{kept}])[{_CONTROL_RANGES}]" if kept else f"[{_CONTROL_RANGES}]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, keep: str = "\n\t") -> str:
    """``text`` with control and bidi characters (except those in ``keep``) spelled as escapes.

    Messages quote manifest content; an ESC or a right-to-left override in a label value must
    not recolour a terminal, break an XML file or disguise a PR comment.
    """
    return _unsafe(keep).sub(_escape_char, text)
