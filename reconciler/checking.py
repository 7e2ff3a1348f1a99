"""``meshrc check`` as a function: files in, a :class:`Report` out.

The steps, in order: load YAML (parallel, cached) -> validate into a snapshot -> run the
Python checks and the Rego policies -> drop suppressed findings -> give each finding the line
of its field. For a pull request, both sides are checked and each head finding is marked new
or not.

A report is a pure function of the files' contents, the options and meshrc's own code, so it
is cached under a hash of the three: checking a tree seen before (the base of a pull request,
a re-run, a poll that found no change) costs reading one small file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from reconciler.checks import run_checks
from reconciler.checks.suppression import IgnoreRule, suppress
from reconciler.findings import Finding, Report, UncheckedObject
from reconciler.memory import gc_paused
from reconciler.model.mesh import DEFAULT_MESH, MeshSettings
from reconciler.model.snapshot import build_snapshot
from reconciler.policy.bundle import PolicyBundle
from reconciler.policy.engines import Engine
from reconciler.policy.evaluating import PolicyJob, evaluating
from reconciler.source.documents import DEFAULT_MAX_FILE_BYTES, split_documents
from reconciler.source.loading import LoadResult, SourceFile, load_files, write_atomically
from reconciler.source.positions import locate


@dataclass(frozen=True)
class Policies:
    """Rego policies to run, and the engine to run them with."""

    bundle: PolicyBundle
    engine: Engine


@dataclass(frozen=True)
class CheckOptions:
    """How to check: what to run and ignore, defaults for objects, and limits."""

    ignore: Sequence[IgnoreRule] = ()
    default_namespace: str = "default"
    mesh: MeshSettings = DEFAULT_MESH
    """The mesh's settings (meshrc.yaml's ``mesh:``), as istioctl's --meshConfigFile."""
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    cache_dir: Path | None = None
    """Root of meshrc's caches: parsed documents by blob id, reports by content hash."""
    workers: int | None = None
    policies: Policies | None = None
    only: Literal["python", "rego"] | None = None
    commit: dict[str, str] | None = None
    """The checked commit ({id, ref}), given to policies as input.commit."""

    @property
    def runs_python(self) -> bool:
        return self.only != "rego"

    @property
    def runs_rego(self) -> bool:
        return self.policies is not None and self.only != "python"


def check_files(files: list[SourceFile], options: CheckOptions) -> Report:
    """Check one snapshot (the files of a directory, or of a commit)."""
    cached = _report_path(files, options)
    if cached is not None and cached.exists():
        try:
            return Report.model_validate_json(cached.read_bytes())
        except (OSError, ValueError):
            pass  # a damaged entry is only a slower run
    with gc_paused():
        report = _check_files(files, options)
    if cached is not None:
        write_atomically(cached, report.model_dump_json().encode())
    return report


def _report_path(files: list[SourceFile], options: CheckOptions) -> Path | None:
    """Where the report of these files and options is cached; None when it must not be.

    Not when policies run on an OPA server: the server is part of the check (it may be down,
    or hold data of its own), so it is asked every time.
    """
    if options.cache_dir is None:
        return None
    if options.runs_rego and options.policies and options.policies.engine.name == "opa":
        return None
    digest = hashlib.sha256()
    digest.update(_code_fingerprint().encode())
    settings = (
        sorted((rule.code, rule.target or "") for rule in options.ignore),
        options.default_namespace,
        options.mesh.model_dump(mode="json"),
        options.max_file_bytes,
        options.only,
        options.policies.bundle.fingerprint() if options.runs_rego and options.policies else None,
        options.commit if options.runs_rego else None,
    )
    digest.update(json.dumps(settings).encode())
    for source in sorted(files, key=lambda f: f.path):
        digest.update(f"\0{source.path}\0{source.blob_id}".encode())
    return options.cache_dir / "reports" / f"{digest.hexdigest()}.json"


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """A hash of meshrc's own source, so that a changed check never serves an old report."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _check_files(files: list[SourceFile], options: CheckOptions) -> Report:
    parse_cache = options.cache_dir / "parsed" if options.cache_dir else None
    loaded = load_files(files, parse_cache, options.max_file_bytes, options.workers)
    with evaluating(_policy_job(loaded, options)) as policy_findings:
        snapshot, schema_findings = build_snapshot(
            loaded.documents, options.default_namespace, options.mesh
        )
        findings = list(loaded.findings)
        if options.runs_python:
            findings += [*schema_findings, *run_checks(snapshot)]
        findings += policy_findings()
    kept = suppress(_without_repeats(findings), snapshot, options.ignore)
    return Report.build(
        _located(kept, loaded),
        checked_files=loaded.files,
        checked_resources=sum(1 for _ in snapshot.resources())
        + len(snapshot.kubernetes_objects)
        + len(snapshot.broken),
        not_checked=(
            UncheckedObject(
                kind=o.kind,
                namespace=o.namespace,
                name=o.name,
                file=o.origin.file,
                line=o.origin.line,
            )
            for o in snapshot.listed
        ),
    )


def _policy_job(loaded: LoadResult, options: CheckOptions) -> PolicyJob | None:
    """The Rego evaluation of this check, if policies run."""
    if not options.runs_rego or options.policies is None:
        return None
    policies = options.policies
    return PolicyJob(
        loaded.documents,
        policies.bundle,
        policies.engine,
        options.default_namespace,
        options.commit,
    )


def _without_repeats(findings: list[Finding]) -> list[Finding]:
    """Drop a Rego finding that repeats a Python finding (same code, resource and field): the
    Rego pack re-states some Python checks (so that teams running only OPA get them too); when
    both run, the Python finding is kept. Findings of one side are never merged with each
    other: two findings of one check on one field may differ in what they say."""

    def key(finding: Finding) -> tuple[str | None, ...]:
        return (finding.code, finding.kind, finding.namespace, finding.name, finding.field)

    python = {key(f) for f in findings if f.source == "python" and f.kind is not None}
    return [f for f in findings if f.source == "python" or f.kind is None or key(f) not in python]


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
