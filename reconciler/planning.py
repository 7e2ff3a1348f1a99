"""What a check of a tree runs: the command line's choices, and the tree's own meshrc.yaml.

``meshrc check`` and ``meshrc sync`` both turn a tree (a folder or a commit) into the
options of :func:`reconciler.checking.check_files` here, so that a sync blocks exactly what
a check fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from reconciler.checking import CheckOptions, Policies
from reconciler.checks.suppression import IgnoreRule
from reconciler.config import CONFIG_FILE, RepoConfig, parse_config
from reconciler.errors import UsageError
from reconciler.policy.bundle import PolicyFolder, builtin_folder, load_bundle
from reconciler.policy.engines import Engine
from reconciler.source.trees import Tree


@dataclass(frozen=True)
class CheckChoices:
    """What the command line asks for, whatever the tree."""

    ignores: tuple[str, ...]
    only: Literal["python", "rego"] | None
    policy_dirs: tuple[Path, ...]
    no_builtin_policies: bool
    params: dict[str, Any]
    namespace: str
    max_file_size: int
    cache_dir: Path | None


@dataclass(frozen=True)
class CheckPlan:
    """What to check in a tree: its meshrc.yaml, the manifest paths, and the policy folders."""

    config: RepoConfig
    paths: list[str]
    folders: list[PolicyFolder]
    params: dict[str, Any]
    own_policies: bool
    """The repository or the user brings policies, so codes outside the catalogue exist."""

    @classmethod
    def of(cls, tree: Tree, subdir: str | None, choices: CheckChoices) -> CheckPlan:
        config = parse_config(tree.read(CONFIG_FILE), tree.shown(CONFIG_FILE))
        folders = [] if choices.no_builtin_policies else [builtin_folder()]
        folders += [PolicyFolder(tree.shown(p), tree.files_under(p)) for p in config.policies]
        folders += [PolicyFolder.from_disk(p) for p in choices.policy_dirs]
        paths = [subdir] if subdir else config.paths
        own = bool(config.policies or choices.policy_dirs)
        return cls(config, paths, folders, {**config.params, **choices.params}, own)

    def options(
        self, choices: CheckChoices, engine: Engine, commit: dict[str, str] | None
    ) -> CheckOptions:
        rules = [
            IgnoreRule.parse(text, any_code=self.own_policies)
            for text in (*self.config.ignore, *choices.ignores)
        ]
        bundle = load_bundle(self.folders, self.params)
        if choices.only == "rego" and not bundle.modules:
            raise UsageError("--only rego, but there are no Rego policies to run")
        return CheckOptions(
            ignore=rules,
            default_namespace=choices.namespace,
            mesh=self.config.mesh,
            max_file_bytes=choices.max_file_size,
            cache_dir=choices.cache_dir,
            policies=Policies(bundle, engine) if bundle.modules else None,
            only=choices.only,
            commit=commit,
        )
