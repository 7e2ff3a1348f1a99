"""Read the YAML files of a snapshot into documents, in parallel, with a cache by Git blob id.

A file's documents are a pure function of its bytes, and Git names bytes by their blob id; so
parsed documents are cached under that id, and a second check of the same (or a slightly
changed) tree parses only the blobs it has not seen. Directory trees get the same ids by hashing
their files the way Git does.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from reconciler.config import CONFIG_FILE
from reconciler.findings import Finding
from reconciler.memory import gc_paused
from reconciler.processes import fork_is_safe, worker_context
from reconciler.source.documents import (
    DEFAULT_MAX_FILE_BYTES,
    YAML_SUFFIXES,
    Chunk,
    DocumentError,
    parse_document,
    split_documents,
)

CACHE_FORMAT = 1
PARALLEL_THRESHOLD_BYTES = 2 * 1024 * 1024

# One parsed chunk, as cached: (line, body) or (line, None, error message, error line).
ParsedChunk = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file of the snapshot: its path (posix, relative), Git blob id, size, and its bytes."""

    path: str
    blob_id: str
    size: int
    read: Callable[[], bytes]


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document of a file: ``index`` counts documents within the file from 0.

    An item of a ``kind: List`` is a document of its own, with the List's place and ``path``
    its place in the List (``items[2]``), so that findings point at the item's own lines.
    """

    file: str
    index: int
    line: int
    body: Any
    path: str = ""


@dataclass
class LoadResult:
    """Documents and the findings about files that could not be read as YAML."""

    documents: list[Document]
    findings: list[Finding]
    files: int
    cache_hits: int = 0
    texts: dict[str, Callable[[], bytes]] = field(default_factory=dict)

    def document_text(self, file: str, index: int) -> str | None:
        """The text of one document, for locating a field in it (see ``positions.locate``)."""
        read = self.texts.get(file)
        if read is None:
            return None
        chunks = split_documents(read().decode("utf-8", errors="replace"))
        return chunks[index].text if index < len(chunks) else None


def git_blob_id(data: bytes) -> str:
    """The id Git gives these bytes as a blob, so directory trees share the Git cache."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def is_manifest_path(path: str) -> bool:
    """Whether a repository-relative path may hold manifests.

    YAML files only; hidden files and folders (``.github/``, ``.gitlab-ci.yml``) and meshrc's
    own ``meshrc.yaml`` at the root are not manifests.
    """
    parts = PurePosixPath(path).parts
    return (
        path.lower().endswith(YAML_SUFFIXES)
        and not any(part.startswith(".") for part in parts)
        and path != CONFIG_FILE
    )


def directory_files(root: Path, display_prefix: str = "") -> list[SourceFile]:
    """The manifest files under ``root`` (a folder or one file), sorted by path.

    Paths are shown as ``display_prefix`` + the path below ``root``. Symbolic links are
    skipped, so that a hostile tree cannot make meshrc read outside it or loop.
    """
    if root.is_file():
        return [_read_file(root, display_prefix.rstrip("/") or root.name)]
    found: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            full = Path(dirpath, name)
            rel = full.relative_to(root).as_posix()
            if is_manifest_path(rel) and not full.is_symlink():
                found.append(_read_file(full, display_prefix + rel))
    return sorted(found, key=lambda f: f.path)


def _read_file(path: Path, shown_as: str) -> SourceFile:
    data = path.read_bytes()
    return SourceFile(shown_as, git_blob_id(data), len(data), _constant(data))


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles plain data only: any class or function in the stream is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"cache holds {module}.{name}, not plain data")


def _valid_entry(parsed: Any) -> bool:
    """Whether a cache entry has the shape :func:`_parse_chunk` gives (else it is a miss)."""
    return isinstance(parsed, list) and all(
        isinstance(p, tuple)
        and isinstance(p[0] if p else None, int)
        and (len(p) == 2 or (len(p) == 4 and isinstance(p[2], str) and isinstance(p[3], int)))
        for p in parsed
    )


class ParseCache:
    """Parsed chunks by blob id, in one pickle file of plain data (fastest to read back)."""

    def __init__(self, directory: Path | None) -> None:
        self.path = directory / f"parsed-v{CACHE_FORMAT}.pickle" if directory else None
        self.entries: dict[str, list[ParsedChunk]] = {}
        if self.path and self.path.exists():
            try:
                with self.path.open("rb") as fh, gc_paused():
                    loaded = _PlainUnpickler(fh).load()
                if isinstance(loaded, dict):
                    self.entries = {
                        blob: parsed for blob, parsed in loaded.items() if _valid_entry(parsed)
                    }
            # A damaged file can fail in many ways (AttributeError, OverflowError,
            # MemoryError...): a damaged cache is only a slower run, never a failed check.
            except Exception:
                self.entries = {}

    def save(self, keep: Iterable[str]) -> None:
        """Write the entries of ``keep`` (the blobs of this run) atomically."""
        if self.path is None:
            return
        kept = {blob: self.entries[blob] for blob in keep if blob in self.entries}
        try:
            data = pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL)
        except (ValueError, pickle.PicklingError):
            return
        write_atomically(self.path, data)


def write_atomically(path: Path, data: bytes) -> None:
    """Write a cache file so that readers see the old file or the new one, never half of one.

    Caches are an optimisation: a read-only or full disk must not fail a check.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        pass


def load_files(
    files: list[SourceFile],
    cache_dir: Path | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    workers: int | None = None,
) -> LoadResult:
    """Parse every YAML file of ``files`` into documents; problems become findings."""
    with gc_paused():
        return _load_files(files, cache_dir, max_file_bytes, workers)


def _load_files(
    files: list[SourceFile], cache_dir: Path | None, max_file_bytes: int, workers: int | None
) -> LoadResult:
    cache = ParseCache(cache_dir)
    findings: list[Finding] = []
    pending: dict[str, list[Chunk]] = {}
    yaml_files = [f for f in files if f.path.lower().endswith(YAML_SUFFIXES)]
    for source in yaml_files:
        if source.blob_id in cache.entries or source.blob_id in pending:
            continue
        if source.size > max_file_bytes:
            findings.append(
                Finding.of(
                    "invalid-yaml",
                    f"file is {source.size} bytes, over the limit of {max_file_bytes} "
                    "(--max-file-size)",
                    file=source.path,
                    line=1,
                )
            )
            continue
        try:
            text = source.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            findings.append(
                Finding.of(
                    "invalid-yaml",
                    f"file is not UTF-8: {exc.reason} at byte {exc.start}",
                    file=source.path,
                    line=1,
                )
            )
            continue
        pending[source.blob_id] = split_documents(text)
    hits = sum(1 for f in yaml_files if f.blob_id in cache.entries)
    cache.entries.update(_parse_all(pending, workers))

    documents: list[Document] = []
    for source in yaml_files:
        for index, parsed in enumerate(cache.entries.get(source.blob_id, ())):
            if len(parsed) == 2:
                documents.extend(_with_list_items(Document(source.path, index, *parsed)))
            else:
                findings.append(
                    Finding.of("invalid-yaml", parsed[2], file=source.path, line=parsed[3])
                )
    if pending:
        cache.save(f.blob_id for f in yaml_files)
    return LoadResult(
        documents=documents,
        findings=findings,
        files=len(yaml_files),
        cache_hits=hits,
        texts={f.path: f.read for f in yaml_files},
    )


def _with_list_items(doc: Document) -> list[Document]:
    """A document, or the items of a ``v1 List`` (as ``kubectl get -o yaml`` writes, and as
    kubectl, Argo CD and Flux apply them) each as a document of its own."""
    body = doc.body
    if not (
        isinstance(body, dict)
        and body.get("kind") == "List"
        and body.get("apiVersion") == "v1"
        and isinstance(body.get("items"), list)
    ):
        return [doc]
    return [
        Document(doc.file, doc.index, doc.line, item, f"items[{position}]")
        for position, item in enumerate(body["items"])
    ]


def _parse_all(
    pending: dict[str, list[Chunk]], workers: int | None
) -> dict[str, list[ParsedChunk]]:
    """Parse every pending chunk; large inputs are shared between this process and workers."""
    flat = [chunk for chunks in pending.values() for chunk in chunks]
    total = sum(len(c.text) for c in flat)
    count = min(workers or os.cpu_count() or 1, len(flat))
    with gc_paused():
        if count < 2 or total < PARALLEL_THRESHOLD_BYTES:
            parsed = _parse_chunks(flat)
        else:
            parsed = _parse_in_parallel(flat, count, total)
    out: dict[str, list[ParsedChunk]] = {}
    start = 0
    for blob, chunks in pending.items():
        out[blob] = parsed[start : start + len(chunks)]
        start += len(chunks)
    return out


# Chunks a forked worker reads from the memory it inherited, instead of receiving them pickled.
_INHERITED: list[Chunk] = []


def _parse_in_parallel(flat: list[Chunk], count: int, total: int) -> list[ParsedChunk]:
    """Parse ``flat`` in ``count`` runs: ``count - 1`` worker processes and this one.

    This process would otherwise sit idle while the workers parse; on two cores, parsing half
    here and half in one worker beats two workers and a waiting parent by a third.
    """
    bounds = _split_even(flat, count, total)
    fork = fork_is_safe()
    global _INHERITED
    _INHERITED = flat if fork else []
    context = worker_context(fork)
    try:
        with ProcessPoolExecutor(max_workers=count - 1, mp_context=context) as pool:
            futures = [
                pool.submit(_parse_inherited, start, stop)
                if fork
                else pool.submit(_parse_chunks, flat[start:stop])
                for start, stop in bounds[:-1]
            ]
            start, stop = bounds[-1]
            own = _parse_chunks(flat[start:stop])
            parsed = [item for future in futures for item in future.result()]
    finally:
        _INHERITED = []
    return parsed + own


def _parse_inherited(start: int, stop: int) -> list[ParsedChunk]:
    return _parse_chunks(_INHERITED[start:stop])


def _split_even(chunks: list[Chunk], parts: int, total: int) -> list[tuple[int, int]]:
    """``parts`` contiguous (start, stop) runs of chunks of about ``total / parts`` characters."""
    unit = total / parts
    bounds: list[tuple[int, int]] = []
    start, size = 0, 0
    for index, chunk in enumerate(chunks):
        if len(bounds) < parts - 1 and size >= unit * (len(bounds) + 1):
            bounds.append((start, index))
            start = index
        size += len(chunk.text)
    bounds.append((start, len(chunks)))
    while len(bounds) < parts:
        bounds.insert(0, (0, 0))
    return bounds


def _parse_chunks(chunks: list[Chunk]) -> list[ParsedChunk]:
    with gc_paused():
        return [_parse_chunk(chunk) for chunk in chunks]


def _parse_chunk(chunk: Chunk) -> ParsedChunk:
    try:
        return (chunk.line, parse_document(chunk))
    except DocumentError as exc:
        return (chunk.line, None, str(exc), exc.line)
