"""The mesh at one place: a folder, or a commit of a Git repository, as a typed snapshot.

The commands that work on the desired state rather than on findings (``render``, ``verify``,
``diff``) start here: read meshrc.yaml for the manifest paths, parse the files, validate
them into a :class:`Snapshot`. ``meshrc check`` has its own path (report cache, policies).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.config import CONFIG_FILE, RepoConfig, parse_config
from reconciler.errors import SourceError
from reconciler.findings import Finding
from reconciler.model.snapshot import Snapshot, build_snapshot
from reconciler.source.git import Credentials, GitSource, open_source
from reconciler.source.loading import LoadResult, load_files
from reconciler.source.trees import CommitTree, FolderTree, Tree


@dataclass(frozen=True)
class MeshState:
    """What one tree declares: its config, the parsed files, and the validated snapshot."""

    config: RepoConfig
    loaded: LoadResult
    snapshot: Snapshot
    findings: list[Finding]
    """Files that are not YAML and objects that failed validation: left out of the snapshot."""
    commit: str | None

    def unambiguous(self) -> MeshState:
        """This state, unless it declares an object twice: then which copy a cluster would run
        is unknown, and nothing may be rendered, compared or applied from it."""
        duplicates = self.snapshot.duplicates
        if duplicates:
            shown = "; ".join(
                f"{d.ref} at {d.first.file}:{d.first.line} and {d.again.file}:{d.again.line}"
                for d in duplicates[:3]
            )
            more = f" (and {len(duplicates) - 3} more)" if len(duplicates) > 3 else ""
            raise SourceError(
                f"objects declared twice: {shown}{more}; meshrc will not pick one "
                "(meshrc check reports them as duplicate-resource)"
            )
        return self


def read_state(
    tree: Tree,
    subdir: str | None = None,
    default_namespace: str = "default",
    cache_dir: Path | None = None,
    commit: str | None = None,
) -> MeshState:
    """The snapshot of ``tree``: the manifests under ``subdir``, else meshrc.yaml's paths
    (``cache_dir``: where parses are cached by blob id)."""
    config = parse_config(tree.read(CONFIG_FILE), tree.shown(CONFIG_FILE))
    paths = [subdir] if subdir else config.paths
    loaded = load_files(tree.manifests(paths), cache_dir)
    snapshot, findings = build_snapshot(loaded.documents, default_namespace, config.mesh)
    return MeshState(config, loaded, snapshot, [*loaded.findings, *findings], commit)


@contextmanager
def opened_source(location: str, cache_dir: Path | None) -> Iterator[GitSource]:
    """A repository (local path or URL) with credentials from the environment."""
    git_cache = cache_dir / "git" if cache_dir else None
    with open_source(location, git_cache, Credentials.from_env()) as source:
        yield source


def state_at(
    path: Path | None,
    repo: str | None,
    ref: str | None,
    subdir: str | None = None,
    default_namespace: str = "default",
    cache_dir: Path | None = None,
) -> MeshState:
    """A folder (``path``), or ``repo`` at ``ref`` (``path`` as the repository when only
    ``ref`` is given): the usual ``[DIR | --repo URL --ref REF]`` of meshrc's commands."""
    location = repo or (str(path or ".") if ref else None)
    if location is None:
        parsed = cache_dir / "parsed" if cache_dir else None
        return read_state(FolderTree(path or Path(".")), subdir, default_namespace, parsed)
    with opened_source(location, cache_dir) as source:
        commit = source.resolve(ref or "HEAD")
        tree = CommitTree(source, commit)
        parsed = cache_dir / "parsed" if cache_dir else None
        return read_state(tree, subdir, default_namespace, parsed, commit)
