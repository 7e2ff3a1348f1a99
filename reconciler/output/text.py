"""The human format: findings grouped by file, one grep-friendly line each, then a summary.

Every finding line starts with ``file:line:`` (the form compilers use, which editors and
CI problem matchers jump to); the per-file header only groups them for the eye.
"""

from __future__ import annotations

from reconciler.findings import Report
from reconciler.output.common import finding_line, group_by_file, plain, summary_line, visible
from reconciler.output.context import OutputContext

_ANSI = {
    "error": "31",  # red
    "warning": "33",  # yellow
    "info": "34",  # blue
    "dim": "2",
    "bold": "1",
}


def ansi(role: str, text: str) -> str:
    """Wrap ``text`` in the SGR code of ``role`` and a reset."""
    return f"\x1b[{_ANSI[role]}m{text}\x1b[0m"


def write(report: Report, context: OutputContext) -> str:
    style = ansi if context.color else plain
    blocks = [
        "\n".join(
            [style("bold", visible(path, keep=""))]
            + [finding_line(f, context.root, style) for f in findings]
        )
        for path, findings in group_by_file(report.findings, context.root).items()
    ]
    blocks.append(summary_line(report))
    return "\n\n".join(blocks) + "\n"
