"""The machine format: every field of every finding, the counts, and the commits compared.

Field order follows :class:`~reconciler.findings.Finding`, so the output is stable without
sorting keys; paths are relative to the repo root like in every other format.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.findings import Report
from reconciler.output.common import SEVERITIES, display_path, finding_path
from reconciler.output.context import OutputContext


def write(report: Report, context: OutputContext) -> str:
    counts = report.counts()
    document: dict[str, Any] = {
        "findings": [
            f.model_dump(mode="json") | {"file": finding_path(f, context.root)}
            for f in report.findings
        ],
        "summary": {s.value: counts[s] for s in SEVERITIES}
        | {
            "files": report.checked_files,
            "resources": report.checked_resources,
            "not_checked": len(report.not_checked),
        },
        "not_checked": [
            o.model_dump(mode="json") | {"file": display_path(o.file, context.root)}
            for o in report.not_checked
        ],
        "base": context.base,
        "head": context.head,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
