"""JUnit XML for CI test reports, one ``<testcase>`` per finding.

One testcase per finding rather than per file, because that is what CI systems display well:
GitLab's merge request widget and Jenkins' test report list each failed testcase by name with
its own failure text and keep a history per testcase. A testcase per file would hide all but
one problem behind one name (most readers keep only the first ``<failure>``). Testcase names
carry no line numbers, so a finding keeps its history while lines move. Findings at or above
``fail_on`` are failures; the others pass and show their text in ``<system-out>``. A report
without findings has one passing testcase, so that CI shows "1 passed" rather than no tests.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reconciler.findings import Finding, Report
from reconciler.output.common import (
    NO_FILE,
    finding_line,
    finding_path,
    is_failing,
    resource_label,
    summary_line,
    visible,
)
from reconciler.output.context import OutputContext


def _text(value: str) -> str:
    """Text XML 1.0 can hold: ElementTree escapes ``<&>"`` but not control characters."""
    return visible(value)


def _testcase(finding: Finding, context: OutputContext) -> tuple[ET.Element, bool]:
    path = finding_path(finding, context.root)
    name = " ".join(p for p in (finding.code, resource_label(finding), finding.field) if p)
    if name == finding.code:
        name = f"{finding.code}: {finding.message.splitlines()[0] if finding.message else ''}"
    case = ET.Element("testcase", {"classname": _text(path or NO_FILE), "name": _text(name)})
    if path is not None:
        case.set("file", _text(path))
    body = _text(finding_line(finding, context.root))
    failing = is_failing(finding, context.fail_on)
    if failing:
        failure = ET.SubElement(
            case, "failure", {"message": _text(finding.message), "type": _text(finding.code)}
        )
        failure.text = body
    else:
        ET.SubElement(case, "system-out").text = body
    return case, failing


def write(report: Report, context: OutputContext) -> str:
    cases = [_testcase(f, context) for f in report.findings]
    if not cases:
        passed = ET.Element("testcase", {"classname": "meshrc", "name": context.title})
        ET.SubElement(passed, "system-out").text = summary_line(report)
        cases = [(passed, False)]
    counts = {
        "tests": str(len(cases)),
        "failures": str(sum(failing for _, failing in cases)),
        "errors": "0",
        "skipped": "0",
    }
    suites = ET.Element("testsuites", {"name": _text(context.title), **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": _text(context.title), **counts})
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("meshrc.version", context.tool_version),
        ("fail_on", context.fail_on.value),
        ("base", context.base),
        ("head", context.head),
        ("summary", summary_line(report)),
    ):
        if value is not None:
            ET.SubElement(properties, "property", {"name": key, "value": _text(value)})
    suite.extend(case for case, _ in cases)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
