"""Behaviour of each writer beyond its goldens: escaping, colour, structure, the registry."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from reconciler.codes import Severity
from reconciler.errors import UsageError
from reconciler.findings import Finding, Report
from reconciler.output import (
    FORMATS,
    WRITERS,
    OutputContext,
    formats_help,
    get_writer,
    github,
    markdown,
    sarif,
    text,
)
from reconciler.output.common import display_path, kind_plural, summary_line, visible
from reconciler.output.markdown import cell

from . import samples

HOSTILE = Finding.of(
    "schema",
    "bad label \x1b[31mred\x1b[0m \u202eevil | <b>&amp;</b> 50%\r\n::warning::forged, a:b",
    kind="Deployment",
    namespace="shop",
    name="x",
    file="bad.yaml",
    line=1,
    new=True,
)
"""A message quoting manifest content that tries terminal escapes, bidi, markup, commands."""


def _write(fmt: str, report: Report, context: OutputContext = samples.PR) -> str:
    return get_writer(fmt)(report, context)


# --- registry -----------------------------------------------------------------------------


def test_registry_lists_every_format_once_with_a_one_line_description() -> None:
    assert FORMATS == list(WRITERS) == ["text", "json", "sarif", "junit", "github", "markdown"]
    for name, writer in WRITERS.items():
        assert writer.name == name
        assert writer.description and "\n" not in writer.description
    assert formats_help().splitlines() == [f"{w.name}: {w.description}" for w in WRITERS.values()]


def test_get_writer_returns_the_registered_writer_and_rejects_unknown_names() -> None:
    assert get_writer("sarif") is WRITERS["sarif"]
    with pytest.raises(UsageError, match="unknown output format 'yaml'"):
        get_writer("yaml")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_writer_ends_with_one_newline(fmt: str) -> None:
    for report in (samples.mixed(), samples.empty()):
        out = _write(fmt, report)
        assert out.endswith("\n") and not out.endswith("\n\n")


# --- shared helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "root", "expected"),
    [
        ("routes/a.yaml", "/repo", "routes/a.yaml"),
        ("./routes/a.yaml", None, "routes/a.yaml"),
        ("/repo/routes/a.yaml", "/repo", "routes/a.yaml"),
        ("/repo/routes/a.yaml", "/repo/", "routes/a.yaml"),
        ("/elsewhere/a.yaml", "/repo", "/elsewhere/a.yaml"),
        ("/repository/a.yaml", "/repo", "/repository/a.yaml"),
    ],
)
def test_display_path(file: str, root: str | None, expected: str) -> None:
    assert display_path(file, root) == expected


def test_summary_line_counts_and_plurals() -> None:
    one_each = Report.build(
        [
            Finding.of("schema", "a", file="a.yaml"),
            Finding.of("deprecated", "b", file="a.yaml"),
            Finding.of("ineffective-match", "c", file="a.yaml"),
        ],
        checked_files=1,
        checked_resources=1,
    )
    assert summary_line(one_each) == "1 error, 1 warning, 1 info in 1 file (1 resource)"
    assert summary_line(samples.empty()) == (
        "No findings in 12 files (40 resources); 3 AuthorizationPolicies, 1 ConfigMap not checked"
    )
    assert [kind_plural(k, 2) for k in ("Ingress", "Gateway", "Policy", "Key")] == [
        "Ingresses",
        "Gateways",
        "Policies",
        "Keys",
    ]


def test_visible_escapes_controls_and_bidi_but_keeps_what_is_asked() -> None:
    assert visible("a\x1bb\u202ec\x00d\x9be\tf\ng\rh") == "a\\x1bb\\u202ec\\x00d\\x9be\tf\ng\\x0dh"
    assert visible("x\ry", keep="\r") == "x\ry"
    assert visible("héllo, 世界") == "héllo, 世界"


@pytest.mark.parametrize("fmt", ["text", "markdown", "github", "junit"])
def test_no_raw_control_or_bidi_character_reaches_text_formats(fmt: str) -> None:
    out = _write(fmt, Report.build([HOSTILE]))
    assert "\x1b" not in out and "\u202e" not in out
    assert "x1b" in out and "u202e" in out  # spelled out, whatever the format's own escaping


# --- text --------------------------------------------------------------------------------


def test_text_has_ansi_codes_only_with_color() -> None:
    report = samples.mixed()
    plain = _write("text", report, samples.LOCAL)
    assert "\x1b[" not in plain
    coloured = _write("text", report, OutputContext(color=True, root=samples.ROOT))
    for sgr in ("\x1b[31merror", "\x1b[33mwarning", "\x1b[34minfo", "\x1b[2m", "\x1b[0m"):
        assert sgr in coloured
    assert re.sub(r"\x1b\[\d+m", "", coloured) == plain


def test_text_finding_lines_start_with_their_location() -> None:
    out = _write("text", samples.mixed())
    lines = out.splitlines()
    for f in samples.mixed().findings:
        path = display_path(f.file, samples.ROOT) if f.file else "(no file)"
        where = f"{path}:{f.line}:" if f.line else f"{path}:"
        assert any(line.startswith(f"{where} {f.severity.value} {f.code}: ") for line in lines)
    assert "broken.yaml:3: error invalid-yaml: mapping values are not allowed here\n" in out
    assert "\n      in line 3, column 7 [new]\n" in out  # continuation indented, not a finding
    assert lines[-1] == "3 errors, 2 warnings, 2 info in 12 files (40 resources)"


def test_text_ansi_helper_wraps_and_resets() -> None:
    assert text.ansi("error", "x") == "\x1b[31mx\x1b[0m"


# --- json --------------------------------------------------------------------------------


def test_json_carries_every_finding_field_and_the_counts() -> None:
    doc = json.loads(_write("json", samples.mixed()))
    assert list(doc) == ["findings", "summary", "not_checked", "base", "head"]
    assert doc["summary"] == {
        "error": 3,
        "warning": 2,
        "info": 2,
        "files": 12,
        "resources": 40,
        "not_checked": 0,
    }
    assert (doc["base"], doc["head"]) == (samples.BASE, samples.HEAD)
    first = doc["findings"][0]
    assert list(first) == [
        "code", "severity", "message", "kind", "namespace", "name", "file", "line", "field",
        "source", "istio_code", "kiali_code", "new",
    ]  # fmt: skip
    assert [f["new"] for f in doc["findings"]] == [True, False, True, None, False, True, False]
    files = {f["file"] for f in doc["findings"]}
    assert "dest rules/payments.yaml" in files and None in files


# --- sarif -------------------------------------------------------------------------------

# The essentials of the SARIF 2.1.0 schema (sarif-schema-2.1.0.json, OASIS): the required
# properties and enumerations of the objects meshrc writes. The full schema is not available
# offline; this subset is written from the specification, not copied.
_LEVEL = {"enum": ["none", "note", "warning", "error"]}
_MESSAGE = {
    "type": "object",
    "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
    "properties": {"text": {"type": "string"}},
}
_MULTIFORMAT = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
SARIF_ESSENTIALS: dict[str, Any] = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string"},
        "version": {"enum": ["2.1.0"]},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "version": {"type": "string"},
                                    "informationUri": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "uniqueItems": True,
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "name": {"type": "string"},
                                                "shortDescription": _MULTIFORMAT,
                                                "defaultConfiguration": {
                                                    "type": "object",
                                                    "properties": {"level": _LEVEL},
                                                },
                                                "properties": {"type": "object"},
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "level": _LEVEL,
                                "message": _MESSAGE,
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "anyOf": [
                                                    {"required": ["address"]},
                                                    {"required": ["artifactLocation"]},
                                                ],
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "properties": {"uri": {"type": "string"}},
                                                    },
                                                    "region": {
                                                        "type": "object",
                                                        "properties": {
                                                            "startLine": {
                                                                "type": "integer",
                                                                "minimum": 1,
                                                            }
                                                        },
                                                    },
                                                },
                                            },
                                            "logicalLocations": {"type": "array"},
                                        },
                                    },
                                },
                                "partialFingerprints": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "baselineState": {
                                    "enum": ["new", "unchanged", "updated", "absent"]
                                },
                                "properties": {"type": "object"},
                            },
                        },
                    },
                    "properties": {"type": "object"},
                },
            },
        },
    },
}


def _sarif(report: Report, context: OutputContext = samples.PR) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(sarif.write(report, context))
    return doc


@pytest.mark.parametrize("report", [samples.mixed, samples.plain, samples.empty])
def test_sarif_validates_against_the_schema_essentials(report: Any) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(_sarif(report()), SARIF_ESSENTIALS)


def test_sarif_structure() -> None:
    doc = _sarif(samples.mixed())
    assert doc["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("meshrc", "9.9.9")
    assert driver["informationUri"].startswith("https://")
    rules = driver["rules"]
    assert [r["id"] for r in rules] == sorted({f.code for f in samples.FINDINGS})
    subset = rules[[r["id"] for r in rules].index("subset-not-found")]
    assert subset["defaultConfiguration"] == {"level": "error"}
    assert subset["properties"] == {"istioCode": "IST0101", "kialiCode": "KIA1107"}
    assert subset["shortDescription"]["text"].startswith("A route names a subset")
    levels = set()
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        levels.add(result["level"])
        assert result["message"]["text"]
        assert result["properties"]["new"] in (True, False, None)
        [fingerprint] = result["partialFingerprints"].values()
        assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
        for location in result.get("locations", []):
            physical = location.get("physicalLocation")
            if physical:
                uri = physical["artifactLocation"]["uri"]
                assert not uri.startswith("/") and " " not in uri and "\\" not in uri
                assert physical.get("region", {"startLine": 1})["startLine"] >= 1
    assert levels == {"error", "warning", "note"}


def _result_for(code: str, doc: dict[str, Any]) -> dict[str, Any]:
    results: list[dict[str, Any]] = doc["runs"][0]["results"]
    [result] = [r for r in results if r["ruleId"] == code]
    return result


def test_sarif_locations() -> None:
    doc = _sarif(samples.mixed())
    tls = _result_for("no-tls-verification", doc)["locations"][0]["physicalLocation"]
    assert tls == {
        "artifactLocation": {"uri": "dest%20rules/payments.yaml"},
        "region": {"startLine": 8},
    }
    no_line = _result_for("ineffective-match", doc)["locations"][0]["physicalLocation"]
    assert "region" not in no_line
    no_file = _result_for("conflicting-hosts", doc)["locations"][0]
    assert "physicalLocation" not in no_file
    assert no_file["logicalLocations"][0]["fullyQualifiedName"] == "VirtualService shop/a"


def test_sarif_places_findings_without_file_at_the_anchor_when_given() -> None:
    context = OutputContext(root=samples.ROOT, anchor_file=f"{samples.ROOT}/meshrc.yaml")
    doc = _sarif(samples.mixed(), context)
    anchored = _result_for("conflicting-hosts", doc)["locations"][0]["physicalLocation"]
    assert anchored == {"artifactLocation": {"uri": "meshrc.yaml"}}
    assert all("physicalLocation" in r["locations"][0] for r in doc["runs"][0]["results"])


def test_sarif_baseline_state_only_when_comparing() -> None:
    compared = _sarif(samples.mixed())["runs"][0]["results"]
    assert {r["baselineState"] for r in compared} == {"new", "unchanged"}
    assert all(
        "baselineState" not in r
        for r in _sarif(samples.plain(), samples.LOCAL)["runs"][0]["results"]
    )


def test_sarif_fingerprint_ignores_lines_but_not_identity() -> None:
    finding = samples.FINDINGS[0]
    moved = finding.model_copy(update={"line": 99, "new": False})
    assert sarif.fingerprint(finding) == sarif.fingerprint(moved)
    reworded = finding.model_copy(update={"message": "another message"})
    assert sarif.fingerprint(finding) != sarif.fingerprint(reworded)
    other_file = Finding.of("invalid-yaml", "bad", file="a.yaml")
    assert sarif.fingerprint(other_file) != sarif.fingerprint(
        other_file.model_copy(update={"file": "b.yaml"})
    )


# --- junit -------------------------------------------------------------------------------


def test_junit_is_valid_xml_with_a_testcase_per_finding() -> None:
    report = samples.mixed()
    suites = ET.fromstring(_write("junit", report))
    [suite] = suites.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(report.findings) == int(suite.get("tests", ""))
    failures = [c for c in cases if c.find("failure") is not None]
    assert len(failures) == len(report.failing(Severity.WARNING)) == int(suite.get("failures", ""))
    passing = [c for c in cases if c.find("failure") is None]
    assert all(c.find("system-out") is not None for c in passing)
    assert suites.get("failures") == suite.get("failures")


def test_junit_fail_on_decides_failure_or_output() -> None:
    on_error = ET.fromstring(_write("junit", samples.mixed(), samples.LOCAL))
    assert on_error.get("failures") == "3"


def test_junit_escapes_markup_and_control_characters() -> None:
    suites = ET.fromstring(_write("junit", Report.build([HOSTILE])))
    failure = suites.find("testsuite/testcase/failure")
    assert failure is not None and failure.text is not None
    assert "<b>&amp;</b>" in failure.text and "\\x1b" in failure.text
    assert failure.get("message", "").startswith("bad label \\x1b[31m")


def test_junit_empty_report_has_one_passing_testcase() -> None:
    suites = ET.fromstring(_write("junit", samples.empty()))
    assert (suites.get("tests"), suites.get("failures")) == ("1", "0")


# --- github ------------------------------------------------------------------------------


def test_github_escaping_follows_the_runner() -> None:
    assert github.escape_data("50% a\r\nb: c, d") == "50%25 a%0D%0Ab: c, d"
    assert github.escape_property("50% a\r\nb: c, d") == "50%25 a%0D%0Ab%3A c%2C d"


def test_github_commands() -> None:
    lines = _write("github", samples.mixed()).splitlines()
    assert lines[0].startswith("::error title=conflicting-hosts::host shop.example.com")
    tls = "::warning file=dest rules/payments.yaml,line=8,title=no-tls-verification::100%25 of"
    assert any(line.startswith(tls) for line in lines)
    notice = "::notice file=routes/cart.yaml,title=ineffective-match::"  # no line: no line=
    assert any(line.startswith(notice) for line in lines)
    assert lines[-1] == "meshrc check: 3 errors, 2 warnings, 2 info in 12 files (40 resources)"


def test_github_message_cannot_forge_a_command() -> None:
    out = _write("github", Report.build([HOSTILE]))
    [command, summary] = out.splitlines()
    assert command.startswith("::error file=bad.yaml,line=1,title=schema::bad label")
    assert "%0D%0A::warning::forged, a:b" in command
    assert not summary.startswith("::")


# --- markdown ----------------------------------------------------------------------------


def _rows(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]


def test_markdown_heading_marker_and_extra_sections() -> None:
    md = _write("markdown", samples.mixed())
    assert md.startswith("<!-- meshrc-check -->\n## meshrc check: 3 errors, 2 warnings, 2 info\n")
    assert md.endswith("### Routing changes\n\nNo route changes.\n")
    empty = _write("markdown", samples.empty(), samples.LOCAL)
    assert empty.splitlines()[:2] == [markdown.MARKER, "## meshrc check: no findings"]


def test_markdown_cells_keep_the_table_shape() -> None:
    md = _write("markdown", Report.build([HOSTILE, *samples.FINDINGS]))
    for row in _rows(md):
        assert len(re.findall(r"(?<!\\)\|", row)) == 6, row
    assert "\\| &lt;b&gt;&amp;amp;&lt;/b&gt;" in md
    assert "<br>" in md and "\r" not in md


def test_markdown_new_findings_first_and_marked_only_when_comparing() -> None:
    rows = _rows(_write("markdown", samples.mixed()))
    assert len([r for r in rows if "**new**" in r]) == 3
    old_messages = [cell(f.message) for f in samples.FINDINGS if f.new is False]
    old = [i for i, row in enumerate(rows) if any(m in row for m in old_messages)]
    assert old == list(range(len(rows) - len(old_messages), len(rows)))  # pre-existing last
    assert "**new**" not in _write("markdown", samples.mixed(), samples.LOCAL)


def test_markdown_folds_many_pre_existing_findings() -> None:
    md = _write("markdown", samples.many_old())
    table, folded = md.split("<details>")
    assert len(_rows(table)) == 1 and "**new**" in table
    assert "<summary>7 pre-existing findings</summary>" in folded
    assert len(_rows(folded)) == 7


def test_markdown_says_so_when_nothing_is_new() -> None:
    old_only = Report.build(f for f in samples.many_old().findings if f.new is False)
    assert "No new findings." in _write("markdown", old_only)


def test_markdown_caps_rows() -> None:
    many = Report.build(
        Finding.of("schema", f"bad {i}", file=f"f{i:03}.yaml", line=1) for i in range(130)
    )
    md = _write("markdown", many, samples.LOCAL)
    assert len(_rows(md)) == markdown.MAX_ROWS
    assert "...and 30 more" in md


def test_text_a_file_name_cannot_forge_a_finding_line() -> None:
    forged = Finding.of("schema", "m", file="a.yaml\nb.yaml:1: error schema: fake", line=2)
    lines = _write("text", Report.build([forged])).splitlines()
    assert lines[1] == "a.yaml\\x0ab.yaml:1: error schema: fake:2: error schema: m"
