"""Suppression: drop findings a team has accepted, by annotation or by ``--ignore`` rule.

``meshrc.io/ignore: "code,code"`` on a resource silences those codes on it (like Istio's
``galley.istio.io/analyze-suppress``); ``--ignore CODE[=Kind/namespace/name-glob]`` silences a
code everywhere or on the resources the glob matches (like ``istioctl analyze -S``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from reconciler.codes import CODES
from reconciler.errors import UsageError
from reconciler.findings import Finding
from reconciler.model.snapshot import Snapshot

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class IgnoreRule:
    """One ``--ignore`` option: a code (or ``*``) and an optional ``Kind/namespace/name`` glob."""

    code: str
    target: str | None = None

    @classmethod
    def parse(cls, text: str, any_code: bool = False) -> IgnoreRule:
        """Parse ``CODE[=Kind/ns/name]``; codes outside the catalogue are allowed only with
        ``any_code`` (the repository brings policies with codes of their own)."""
        code, sep, target = text.partition("=")
        code = code.strip()
        if code != "*" and code not in CODES and not (any_code and _CODE.fullmatch(code)):
            raise UsageError(
                f"--ignore {text!r}: unknown code {code!r} (known: {', '.join(sorted(CODES))})"
            )
        if sep and target.count("/") != 2:
            raise UsageError(
                f"--ignore {text!r}: the target must be Kind/namespace/name (globs allowed)"
            )
        return cls(code, target.strip() if sep else None)

    def matches(self, finding: Finding) -> bool:
        if self.code not in ("*", finding.code):
            return False
        if self.target is None:
            return True
        subject = f"{finding.kind or ''}/{finding.namespace or ''}/{finding.name or ''}"
        return fnmatchcase(subject, self.target)


def suppress(
    findings: Iterable[Finding], snapshot: Snapshot, rules: Iterable[IgnoreRule] = ()
) -> list[Finding]:
    """The findings that neither an annotation nor an ``--ignore`` rule silences."""
    rules = list(rules)
    annotated = {
        (r.kind, r.namespace, r.name): r.ignored_codes()
        for r in (*snapshot.resources(), *snapshot.kubernetes_objects)
        if r.ignored_codes()
    }
    return [
        f
        for f in findings
        if f.code not in annotated.get((f.kind or "", f.namespace or "", f.name or ""), ())
        and not any(rule.matches(f) for rule in rules)
    ]
