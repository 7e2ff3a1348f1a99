"""``meshrc check`` as a function: files in, a :class:`Report` out.

The steps, in order: load YAML (parallel, cached) -> validate into a snapshot -> run the
checks -> drop suppressed findings -> give each finding the line of its field. For a pull
request, both sides are checked and each head finding is marked new or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from reconciler.checks import run_checks
from reconciler.checks.suppression import IgnoreRule, suppress
from reconciler.findings import Finding, Report
from reconciler.memory import gc_paused
from reconciler.model.snapshot import build_snapshot
from reconciler.source.documents import DEFAULT_MAX_FILE_BYTES, split_documents
from reconciler.source.loading import LoadResult, SourceFile, load_files
from reconciler.source.positions import locate


@dataclass(frozen=True)
class CheckOptions:
    """How to check: what to ignore, defaults for objects, and limits."""

    ignore: Sequence[IgnoreRule] = ()
    default_namespace: str = "default"
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    cache_dir: Path | None = None
    workers: int | None = None
    extra_findings: Sequence[Finding] = field(default_factory=tuple)


def check_files(files: list[SourceFile], options: CheckOptions) -> Report:
    """Check one snapshot (the files of a directory, or of a commit)."""
    with gc_paused():
        return _check_files(files, options)


def _check_files(files: list[SourceFile], options: CheckOptions) -> Report:
    loaded = load_files(files, options.cache_dir, options.max_file_bytes, options.workers)
    snapshot, schema_findings = build_snapshot(loaded.documents, options.default_namespace)
    findings = [*loaded.findings, *schema_findings, *run_checks(snapshot)]
    kept = suppress(findings, snapshot, options.ignore)
    return Report.build(
        _located(kept, loaded),
        checked_files=loaded.files,
        checked_resources=sum(1 for _ in snapshot.resources()) + len(snapshot.broken),
    )


def mark_new(head: Report, base: Report) -> Report:
    """Mark each head finding ``new`` unless the same finding exists at base."""
    known = {f.identity() for f in base.findings}
    return head.model_copy(
        update={
            "findings": [
                f.model_copy(update={"new": f.identity() not in known}) for f in head.findings
            ]
        }
    )


def _located(findings: Iterable[Finding], loaded: LoadResult) -> list[Finding]:
    """Findings with the line of their field instead of the line of their document."""
    index_of = {(d.file, d.line): d.index for d in loaded.documents}

    @lru_cache(maxsize=64)
    def chunks(file: str) -> list[tuple[int, str]]:
        read = loaded.texts.get(file)
        if read is None:
            return []
        text = read().decode("utf-8", errors="replace")
        return [(c.line, c.text) for c in split_documents(text)]

    out = []
    for finding in findings:
        if finding.field and finding.file and finding.line is not None:
            index = index_of.get((finding.file, finding.line))
            parts = chunks(finding.file)
            if index is not None and index < len(parts):
                first_line, text = parts[index]
                finding = finding.model_copy(
                    update={"line": locate(text, first_line, finding.field)}
                )
        out.append(finding)
    return out
