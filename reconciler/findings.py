"""Findings are data: what a check found, where, and how bad. Reports decide the exit code.

A check never raises for a problem in the manifests; it returns findings. The exit code is a
property of the report (:meth:`Report.exit_code`), never of a writer, so every ``-o`` format
exits the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from pydantic import BaseModel, ConfigDict

from reconciler.codes import CODES, Severity


class ExitCode(IntEnum):
    """Stable exit codes of ``meshrc check``."""

    CLEAN = 0
    FINDINGS = 1
    COULD_NOT_CHECK = 2


class Finding(BaseModel):
    """One problem in one resource (or file), with the place to fix it."""

    model_config = ConfigDict(frozen=True)

    code: str
    severity: Severity
    message: str
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    file: str | None = None
    line: int | None = None
    field: str | None = None
    source: str = "python"
    istio_code: str | None = None
    kiali_code: str | None = None
    new: bool | None = None

    @classmethod
    def of(cls, code: str, message: str, **where: object) -> Finding:
        """A finding with the catalogue's severity and Istio/Kiali codes for ``code``."""
        info = CODES[code]
        return cls.model_validate(
            {
                "code": code,
                "severity": info.severity,
                "message": message,
                "istio_code": info.istio_code,
                "kiali_code": info.kiali_code,
                **where,
            }
        )

    def sort_key(self) -> tuple[str, int, str, str, str, str, str]:
        """Order by place, then by code and text: the same input always prints the same way."""
        return (
            self.file or "",
            self.line or 0,
            self.kind or "",
            self.namespace or "",
            self.name or "",
            self.code,
            self.message,
        )

    def identity(self) -> tuple[str | None, ...]:
        """What makes a finding "the same" across two commits.

        Lines move, and so may resources between files: a finding on a resource is known by
        the resource; one about a file (unparsable YAML) by the file.
        """
        where = self.file if self.kind is None else None
        return (self.code, self.kind, self.namespace, self.name, self.field, self.message, where)


class UncheckedObject(BaseModel):
    """An object of a kind meshrc knows but does not check: named, so nothing passes unseen."""

    model_config = ConfigDict(frozen=True)

    kind: str
    namespace: str
    name: str
    file: str
    line: int


class Report(BaseModel):
    """All findings of one check run, sorted, with the decision that follows from them."""

    findings: list[Finding]
    checked_files: int = 0
    checked_resources: int = 0
    not_checked: list[UncheckedObject] = []

    @classmethod
    def build(
        cls,
        findings: Iterable[Finding],
        checked_files: int = 0,
        checked_resources: int = 0,
        not_checked: Iterable[UncheckedObject] = (),
    ) -> Report:
        unique = {f: None for f in findings}
        return cls(
            findings=sorted(unique, key=Finding.sort_key),
            checked_files=checked_files,
            checked_resources=checked_resources,
            not_checked=sorted(
                set(not_checked), key=lambda o: (o.kind, o.namespace, o.name, o.file, o.line)
            ),
        )

    def not_checked_counts(self) -> dict[str, int]:
        """How many objects of each unchecked kind, by kind name."""
        counts: dict[str, int] = {}
        for obj in self.not_checked:
            counts[obj.kind] = counts.get(obj.kind, 0) + 1
        return dict(sorted(counts.items()))

    def failing(self, fail_on: Severity, only_new: bool = False) -> list[Finding]:
        """The findings at or above ``fail_on`` (and, with ``only_new``, introduced by head)."""
        return [
            f
            for f in self.findings
            if f.severity.rank >= fail_on.rank and (not only_new or f.new is not False)
        ]

    def exit_code(self, fail_on: Severity, only_new: bool = False) -> ExitCode:
        return ExitCode.FINDINGS if self.failing(fail_on, only_new) else ExitCode.CLEAN

    def counts(self) -> dict[Severity, int]:
        out = {s: 0 for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)}
        for f in self.findings:
            out[f.severity] += 1
        return out
