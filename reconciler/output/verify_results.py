"""``meshrc verify`` results in every format: text, json, junit, github, markdown.

Results are data (``RouteTestResult``); the exit code comes from them, never from a writer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from xml.etree import ElementTree

from reconciler.verify.running import RouteTestResult

VERIFY_FORMATS = ["text", "json", "junit", "github", "markdown"]


def _counts(results: list[RouteTestResult]) -> tuple[int, int]:
    passed = sum(r.passed for r in results)
    return passed, len(results) - passed


def text(results: list[RouteTestResult], color: bool) -> str:
    def paint(word: str, code: str) -> str:
        return f"\x1b[{code}m{word}\x1b[0m" if color else word

    lines = []
    for r in results:
        mark = paint("PASS", "32") if r.passed else paint("FAIL", "31")
        lines.append(
            f"{mark} {r.name} ({r.file}:{r.line})" + ("" if r.passed else f": {r.message}")
        )
    passed, failed = _counts(results)
    lines.append(f"{passed} passed, {failed} failed" if results else "no RouteTest found")
    return "\n".join(lines) + "\n"


def as_json(results: list[RouteTestResult], _color: bool) -> str:
    passed, failed = _counts(results)
    document = {"results": [r.as_json() for r in results], "passed": passed, "failed": failed}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def junit(results: list[RouteTestResult], _color: bool) -> str:
    failed = _counts(results)[1]
    suite = ElementTree.Element(
        "testsuite", name="meshrc verify", tests=str(len(results)), failures=str(failed)
    )
    for r in results:
        case = ElementTree.SubElement(
            suite, "testcase", name=r.name, classname="RouteTest", file=r.file, line=str(r.line)
        )
        if not r.passed:
            failure = ElementTree.SubElement(case, "failure", message=r.message)
            failure.text = json.dumps({"expected": r.expected, "observed": r.observed}, indent=2)
    suites = ElementTree.Element("testsuites", tests=str(len(results)), failures=str(failed))
    suites.append(suite)
    ElementTree.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, "unicode") + "\n"
    )


def github(results: list[RouteTestResult], _color: bool) -> str:
    """Workflow commands: each failure annotates its RouteTest's line in the PR."""
    lines = [
        f"::error file={r.file},line={r.line},title=RouteTest {r.name}::{_escape(r.message)}"
        for r in results
        if not r.passed
    ]
    passed, failed = _counts(results)
    lines.append(f"meshrc verify: {passed} passed, {failed} failed")
    return "\n".join(lines) + "\n"


def _escape(message: str) -> str:
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def markdown(results: list[RouteTestResult], _color: bool) -> str:
    passed, failed = _counts(results)
    lines = [
        "### meshrc verify: route tests",
        "",
        f"**{passed} passed, {failed} failed** (real Envoy, stand-in upstreams)",
        "",
        "| | test | file | result |",
        "| --- | --- | --- | --- |",
    ]
    for r in results:
        mark = "✅" if r.passed else "❌"
        message = r.message.replace("|", "\\|")
        lines.append(f"| {mark} | `{r.name}` | `{r.file}:{r.line}` | {message} |")
    return "\n".join(lines) + "\n"


WRITERS: dict[str, Callable[[list[RouteTestResult], bool], str]] = {
    "text": text,
    "json": as_json,
    "junit": junit,
    "github": github,
    "markdown": markdown,
}
