"""A pull request comment: a verdict heading, a findings table, the commits compared.

The first line is the marker ``<!-- meshrc-check -->`` so that a bot finds and updates its own
comment instead of adding one per push. When base and head are known, the findings the PR
introduces come first, marked **new**; many pre-existing ones fold into a ``<details>`` block so
that they do not bury the new ones. Every cell is escaped: messages quote manifest content.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reconciler.findings import Finding, Report
from reconciler.output.common import count_phrase, location, resource_label, summary_line, visible
from reconciler.output.context import OutputContext

MARKER = "<!-- meshrc-check -->"
FOLD_PRE_EXISTING_OVER = 5
"""More pre-existing findings than this go into a collapsed ``<details>`` block."""
MAX_ROWS = 100
"""Rows per table; GitHub rejects comments over 65,536 characters, and the log has them all."""

_HEADER = "| Severity | Code | Resource | Location | Message |"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]~|])")
_PLAIN_CODE = re.compile(r"[\w.:/-]+")
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def cell(text: str) -> str:
    """``text`` as literal content of a table cell: no markup, no HTML, no line breaks."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", visible(text).translate(_HTML))
    return text.replace("\n", "<br>")


def _row(finding: Finding, context: OutputContext) -> str:
    message = cell(finding.message)
    if context.comparing and finding.new:
        message = f"**new** {message}"
    columns = (
        cell(finding.severity.value),
        f"`{finding.code}`" if _PLAIN_CODE.fullmatch(finding.code) else cell(finding.code),
        cell(resource_label(finding) or "-"),
        cell(location(finding, context.root)) if finding.file else "-",
        message,
    )
    return "| " + " | ".join(columns) + " |"


def _table(findings: Sequence[Finding], context: OutputContext) -> str:
    lines = [_HEADER, "| --- | --- | --- | --- | --- |"]
    lines += [_row(f, context) for f in findings[:MAX_ROWS]]
    if len(findings) > MAX_ROWS:
        lines.append(f"\n_...and {len(findings) - MAX_ROWS} more; the job log lists all._")
    return "\n".join(lines)


def _commits(context: OutputContext) -> str:
    """`` at head H against base B``, with whatever is known."""
    head = f" at head {cell(context.head)}" if context.head else ""
    base = f" against base {cell(context.base)}" if context.base else ""
    return head + base


def write(report: Report, context: OutputContext) -> str:
    verdict = count_phrase(report, skip_zero=True) if report.findings else "no findings"
    blocks = [f"{MARKER}\n## {cell(context.title)}: {verdict}"]
    if context.comparing:
        new = [f for f in report.findings if f.new is not False]
        old = [f for f in report.findings if f.new is False]
    else:
        new, old = list(report.findings), []
    folded = old if len(old) > FOLD_PRE_EXISTING_OVER else []
    shown = new if folded else new + old
    if shown:
        blocks.append(_table(shown, context))
    elif folded:
        blocks.append("No new findings.")
    if folded:
        blocks.append(
            f"<details>\n<summary>{len(folded)} pre-existing findings</summary>\n\n"
            f"{_table(folded, context)}\n\n</details>"
        )
    blocks.append(f"_{summary_line(report)}{_commits(context)}._")
    blocks.extend(context.extra_sections)
    return "\n\n".join(blocks) + "\n"
