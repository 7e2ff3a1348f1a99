"""GitHub Actions workflow commands: each finding becomes an annotation on the PR diff.

Values are escaped as the runner documents: ``%``, CR and LF in the message, and in addition
``:`` and ``,`` in properties. Escaping LF also keeps a message from starting a line of its own
with ``::``, which would let manifest content issue workflow commands.
"""

from __future__ import annotations

from reconciler.codes import Severity
from reconciler.findings import Finding, Report
from reconciler.output.common import detail, finding_path, line_of, summary_line, visible
from reconciler.output.context import OutputContext

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(value: str) -> str:
    """Escape a command's message (the part after ``::``)."""
    text = visible(value, keep="\n\r\t")
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a property value (``file=``, ``title=``): data escaping plus ``:`` and ``,``."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(finding: Finding, root: str | None) -> str:
    """``::error file=F,line=L,title=CODE::message`` for one finding."""
    properties = []
    if (path := finding_path(finding, root)) is not None:
        properties.append(f"file={escape_property(path)}")
        if (line := line_of(finding)) is not None:
            properties.append(f"line={line}")
    properties.append(f"title={escape_property(finding.code)}")
    return f"::{_COMMANDS[finding.severity]} {','.join(properties)}::{escape_data(detail(finding))}"


def write(report: Report, context: OutputContext) -> str:
    lines = [command(f, context.root) for f in report.findings]
    lines.append(f"{escape_data(context.title)}: {summary_line(report)}")
    return "\n".join(lines) + "\n"
