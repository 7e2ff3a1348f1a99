"""A tree to check: a folder on disk, or a commit read from Git without a checkout.

Both answer the same three questions (the manifests under some paths, one file's bytes, the
files under a folder), so everything above this module is the same for folders and commits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Protocol

from reconciler.errors import SourceError, UsageError
from reconciler.source.git import GitSource
from reconciler.source.loading import SourceFile, directory_files, is_manifest_path


class Tree(Protocol):
    """Where the desired state is read from."""

    def manifests(self, paths: list[str]) -> list[SourceFile]:
        """Manifest files under ``paths`` (relative to the root; empty: the whole tree)."""
        ...

    def read(self, path: str) -> bytes | None:
        """The bytes of one file, or None when it does not exist."""
        ...

    def files_under(self, path: str) -> dict[str, bytes]:
        """Every file below a folder, by path relative to that folder."""
        ...

    def shown(self, path: str) -> str:
        """How messages name ``path`` (a path relative to the root), so a user finds it."""
        ...


class FolderTree:
    """A folder on disk; paths are shown as given on the command line (``mesh/a.yaml``)."""

    def __init__(self, root: Path) -> None:
        if not root.exists():
            raise UsageError(f"{root} does not exist")
        self.root = root
        self._prefix = "" if root.as_posix() in (".", "./") else root.as_posix().rstrip("/") + "/"

    def manifests(self, paths: list[str]) -> list[SourceFile]:
        if self.root.is_file():
            return directory_files(self.root, self._prefix)
        found: dict[str, SourceFile] = {}
        for sub in paths or [""]:
            folder = self.root / _relative(sub)
            if not folder.exists():
                raise UsageError(f"{folder} does not exist")
            prefix = self._prefix + (f"{_relative(sub)}/" if sub else "")
            found.update((f.path, f) for f in directory_files(folder, prefix))
        return sorted(found.values(), key=lambda f: f.path)

    def read(self, path: str) -> bytes | None:
        file = self.root / _relative(path)
        return file.read_bytes() if self.root.is_dir() and file.is_file() else None

    def shown(self, path: str) -> str:
        return self._prefix + _relative(path)

    def files_under(self, path: str) -> dict[str, bytes]:
        folder = self.root / _relative(path)
        if not folder.is_dir():
            raise UsageError(f"{folder} is not a folder")
        return {
            file.relative_to(folder).as_posix(): file.read_bytes()
            for file in sorted(folder.rglob("*"))
            if file.is_file() and not file.is_symlink()
        }


class CommitTree:
    """One commit of a repository, read from Git objects (the work tree is never touched)."""

    def __init__(self, source: GitSource, commit: str) -> None:
        self.source = source
        self.commit = commit

    def manifests(self, paths: list[str]) -> list[SourceFile]:
        found: dict[str, SourceFile] = {}
        for sub in paths or [""]:
            for f in self.source.files(self.commit, _relative(sub) if sub else None):
                if is_manifest_path(f.path):
                    found[f.path] = SourceFile(f.path, f.blob_id, f.size, self._reader(f.blob_id))
        return sorted(found.values(), key=lambda f: f.path)

    def read(self, path: str) -> bytes | None:
        wanted = _relative(path)
        parent = str(PurePosixPath(wanted).parent)
        try:
            listing = self.source.files(self.commit, None if parent == "." else parent)
        except SourceError:
            return None
        for f in listing:
            if f.path == wanted:
                return self.source.read(f.blob_id)
        return None

    def shown(self, path: str) -> str:
        return f"{self.commit[:12]}:{_relative(path)}"

    def files_under(self, path: str) -> dict[str, bytes]:
        folder = _relative(path)
        return {
            PurePosixPath(f.path).relative_to(folder).as_posix(): self.source.read(f.blob_id)
            for f in self.source.files(self.commit, folder)
        }

    def _reader(self, blob_id: str) -> Callable[[], bytes]:
        return lambda: self.source.read(blob_id)


def _relative(path: str) -> str:
    """A repository-relative path; absolute paths and ``..`` are refused (no escaping)."""
    clean = PurePosixPath(path.strip("/") or ".")
    if path.startswith("/") or ".." in clean.parts:
        raise UsageError(f"{path!r} must be a path inside the repository")
    return clean.as_posix()
