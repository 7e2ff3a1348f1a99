"""What policies decide, turned into findings that join the Python checks' findings.

A package's ``findings`` are objects ``{code, severity, message, resource: {kind, namespace,
name}, field}``; conftest-style ``deny`` / ``warn`` / ``violation`` entries (strings, or objects
with ``msg``) are findings too, with the rule as their code. A malformed decision is an error,
never silently dropped: policies fail closed.
"""

from __future__ import annotations

from typing import Any

from reconciler.codes import CODES, Severity
from reconciler.errors import PolicyError
from reconciler.findings import Finding
from reconciler.policy.engines import Results

STRING_RULES = {"deny": Severity.ERROR, "violation": Severity.ERROR, "warn": Severity.WARNING}


def to_findings(results: Results, document: dict[str, Any]) -> list[Finding]:
    """Findings from an engine's results, located through the input's index and sources."""
    locate = _Locator(document)
    found: list[Finding] = []
    for package, rules in sorted(results.items()):
        source = f"rego:{package}"
        for decision in rules.get("findings", ()):
            found.append(_finding(decision, package, source, locate))
        for rule, severity in STRING_RULES.items():
            for decision in rules.get(rule, ()):
                found.append(_string_finding(decision, rule, severity, package, source, locate))
    return found


class _Locator:
    """(kind, namespace, name) -> where the resource was read, from the input document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._index = document.get("index") or {}
        self._resources = document.get("resources") or []

    def __call__(self, kind: Any, namespace: Any, name: Any) -> dict[str, Any]:
        if not all(isinstance(v, str) for v in (kind, name)) or not isinstance(
            namespace, str | None
        ):
            return {}
        position = self._index.get(kind, {}).get(namespace or "", {}).get(name)
        if not isinstance(position, int) or not 0 <= position < len(self._resources):
            return {}
        source = self._resources[position].get("source") or {}
        return {"file": source.get("file"), "line": source.get("line")}


def _finding(decision: Any, package: str, source: str, locate: _Locator) -> Finding:
    if not isinstance(decision, dict):
        raise PolicyError(f"{package}: a finding must be an object, got {decision!r:.80}")
    code, message = decision.get("code"), decision.get("message")
    severity = decision.get("severity")
    if not isinstance(code, str) or not code:
        raise PolicyError(f"{package}: a finding has no code: {decision!r:.120}")
    if severity not in tuple(Severity):
        raise PolicyError(
            f"{package}: finding {code!r} has severity {severity!r}; use error, warning or info"
        )
    if not isinstance(message, str):
        raise PolicyError(f"{package}: finding {code!r} has no message")
    field = decision.get("field")
    return Finding(
        code=code,
        severity=Severity(severity),
        message=message,
        field=field if isinstance(field, str) and field else None,
        source=source,
        istio_code=CODES[code].istio_code if code in CODES else None,
        kiali_code=CODES[code].kiali_code if code in CODES else None,
        **_resource(decision.get("resource"), package, locate),
    )


def _string_finding(
    decision: Any, rule: str, severity: Severity, package: str, source: str, locate: _Locator
) -> Finding:
    if isinstance(decision, str):
        return Finding(code=rule, severity=severity, message=decision, source=source)
    if isinstance(decision, dict) and isinstance(decision.get("msg"), str):
        return Finding(
            code=rule,
            severity=severity,
            message=decision["msg"],
            source=source,
            **_resource(decision.get("resource"), package, locate),
        )
    raise PolicyError(f"{package}.{rule}: entries must be strings or objects with msg")


def _resource(resource: Any, package: str, locate: _Locator) -> dict[str, Any]:
    if resource is None:
        return {}
    if not isinstance(resource, dict):
        raise PolicyError(f"{package}: resource must be an object {{kind, namespace, name}}")
    kind, namespace, name = (resource.get(k) for k in ("kind", "namespace", "name"))
    where = {
        "kind": kind if isinstance(kind, str) else None,
        "namespace": namespace if isinstance(namespace, str) else None,
        "name": name if isinstance(name, str) else None,
    }
    return {**where, **locate(kind, namespace, name)}
