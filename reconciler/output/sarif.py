"""SARIF 2.1.0, the format GitHub code scanning (and other viewers) read.

One run; ``rules`` lists only the codes that occur, described from the catalogue. Each result
carries a ``partialFingerprints`` entry derived from :meth:`Finding.identity` (no line numbers),
so code scanning keeps tracking an alert while the lines around it move.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from reconciler.codes import CODES, Severity
from reconciler.findings import Finding, Report
from reconciler.output.common import detail, display_path, finding_path, line_of, resource_label
from reconciler.output.context import OutputContext

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/mesh-reconciler/"
FINGERPRINT_KEY = "meshrcFindingIdentity/v1"
"""Versioned: a change to what is hashed must change the key, not silently re-open alerts."""

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def fingerprint(finding: Finding) -> str:
    """A stable hash of :meth:`Finding.identity` (which holds no line numbers)."""
    data = json.dumps(list(finding.identity()), ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(data.encode("ascii")).hexdigest()


def _rule(code: str, first: Finding) -> dict[str, Any]:
    """The rule of ``code`` from the catalogue; a code outside it is described by its finding."""
    info = CODES.get(code)
    properties = {
        "istioCode": info.istio_code if info else first.istio_code,
        "kialiCode": info.kiali_code if info else first.kiali_code,
    }
    rule: dict[str, Any] = {
        "id": code,
        "name": code,
        "shortDescription": {"text": info.summary if info else code},
        "defaultConfiguration": {"level": _LEVELS[info.severity if info else first.severity]},
    }
    if known := {k: v for k, v in properties.items() if v is not None}:
        rule["properties"] = known
    return rule


def _artifact_uri(path: str) -> str:
    """A URI reference: relative paths percent-encoded, absolute ones as ``file:`` URIs."""
    posix = PurePosixPath(path)
    return posix.as_uri() if posix.is_absolute() else quote(path, safe="/")


def _location(finding: Finding, context: OutputContext) -> dict[str, Any] | None:
    location: dict[str, Any] = {}
    path = finding_path(finding, context.root)
    line = line_of(finding)
    if path is None and context.anchor_file is not None:
        path, line = display_path(context.anchor_file, context.root), None
    if path is not None:
        physical: dict[str, Any] = {"artifactLocation": {"uri": _artifact_uri(path)}}
        if line is not None:
            physical["region"] = {"startLine": line}
        location["physicalLocation"] = physical
    if resource := resource_label(finding):
        location["logicalLocations"] = [{"fullyQualifiedName": resource, "kind": "resource"}]
    return location or None


def _result(finding: Finding, rule_index: int, context: OutputContext) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": _LEVELS[finding.severity],
        "message": {"text": detail(finding, mark_new=False)},
    }
    if location := _location(finding, context):
        result["locations"] = [location]
    result["partialFingerprints"] = {FINGERPRINT_KEY: fingerprint(finding)}
    if context.comparing:
        # On every result or none; unknown counts as new, as in ``Report.failing(only_new=True)``.
        result["baselineState"] = "unchanged" if finding.new is False else "new"
    properties: dict[str, Any] = {"new": finding.new, "source": finding.source}
    if finding.field is not None:
        properties["field"] = finding.field
    result["properties"] = properties
    return result


def write(report: Report, context: OutputContext) -> str:
    first_of: dict[str, Finding] = {}
    for finding in report.findings:
        first_of.setdefault(finding.code, finding)
    codes = sorted(first_of)
    index = {code: i for i, code in enumerate(codes)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "meshrc",
                "version": context.tool_version,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(code, first_of[code]) for code in codes],
            }
        },
        "results": [_result(f, index[f.code], context) for f in report.findings],
        "properties": {
            **{k: v for k, v in (("base", context.base), ("head", context.head)) if v},
            "checkedFiles": report.checked_files,
            "checkedResources": report.checked_resources,
            **({"notChecked": report.not_checked_counts()} if report.not_checked else {}),
        },
    }
    document = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
