"""Policy bundles: the Rego modules and data of one or more policy folders.

A folder holds ``*.rego`` modules (``*_test.rego`` are unit tests for ``opa test`` and are not
loaded) and optional ``data.json`` / ``data.yaml`` files, merged into ``data`` where ``opa test``
and ``opa run`` put them: at the root for the folder's own, under ``data.a.b`` for ``a/b/``'s.
Parameters go to ``data.meshrc.params``. meshrc's own pack ships with the package.

A module may declare which kinds of object it reads, in the package's METADATA annotation
(``custom: {meshrc: {input_kinds: [VirtualService, ...]}}``); when every module declares,
the input carries those kinds only, as Gatekeeper replicates only the kinds its config syncs.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from reconciler.errors import PolicyError

BUILTIN_PACK = Path(__file__).with_name("pack")
DATA_FILES = ("data.json", "data.yaml", "data.yml")
_METADATA_BEFORE_PACKAGE = re.compile(
    r"^[ \t]*#[ \t]*METADATA[ \t]*\n((?:[ \t]*#.*\n)*?)[ \t]*package[ \t]", re.MULTILINE
)
PACKAGE_PATTERN = re.compile(
    r"^[ \t]*package[ \t]+([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)", re.MULTILINE
)


@dataclass(frozen=True)
class PolicyBundle:
    """Modules by display path, the merged data document, and the packages they declare."""

    modules: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def packages(self) -> list[str]:
        found = {
            m.group(1) for text in self.modules.values() for m in PACKAGE_PATTERN.finditer(text)
        }
        return sorted(found)

    @property
    def input_kinds(self) -> frozenset[str] | None:
        """The kinds the modules read, when every module declares them; else None (all)."""
        kinds: set[str] = set()
        for path, text in self.modules.items():
            declared = declared_input_kinds(text, path)
            if declared is None:
                return None
            kinds |= declared
        return frozenset(kinds)

    def fingerprint(self) -> str:
        """A hash of everything that can change a decision, for the report cache."""
        digest = hashlib.sha256()
        for path in sorted(self.modules):
            digest.update(f"\0{path}\0".encode())
            digest.update(self.modules[path].encode())
        digest.update(json.dumps(self.data, sort_keys=True, default=str).encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class PolicyFolder:
    """The files of one policy folder: from disk, or from a commit's tree."""

    name: str
    files: dict[str, bytes]

    @classmethod
    def from_disk(cls, root: Path, name: str | None = None) -> PolicyFolder:
        if not root.is_dir():
            raise PolicyError(f"policy folder {root} does not exist")
        files = {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file() and not path.is_symlink() and _is_policy_file(path.name)
        }
        return cls(name or root.as_posix(), files)


def _is_policy_file(name: str) -> bool:
    return (name.endswith(".rego") and not name.endswith("_test.rego")) or name in DATA_FILES


def builtin_folder() -> PolicyFolder:
    """meshrc's own pack (``policies/`` in the source tree), shipped inside the package."""
    return PolicyFolder.from_disk(BUILTIN_PACK, "meshrc-pack")


def load_bundle(folders: list[PolicyFolder], params: dict[str, Any] | None = None) -> PolicyBundle:
    """Modules and merged data of ``folders`` (later folders win), with ``params`` as
    data.meshrc.params."""
    modules: dict[str, str] = {}
    data: dict[str, Any] = {}
    for folder in folders:
        for rel, raw in sorted(folder.files.items()):
            name = PurePosixPath(rel).name
            if not _is_policy_file(name):
                continue
            shown = f"{folder.name}/{rel}"
            text = _decode(raw, shown)
            if name.endswith(".rego"):
                modules[shown] = text
            else:
                value: dict[str, Any] = _parse_data(text, shown)
                for part in reversed(PurePosixPath(rel).parent.parts):
                    value = {part: value}  # as OPA loads it: data.json in a/b/ is data.a.b
                _merge(data, value)
    if params:
        _merge(data, {"meshrc": {"params": params}})
    return PolicyBundle(modules, data)


def declared_input_kinds(text: str, shown: str) -> frozenset[str] | None:
    """The ``custom.meshrc.input_kinds`` of the module's package annotation, or None.

    A declaration that is not a list of kind names is an error: silently sending every kind
    would hide the typo, and sending none would hide the objects from the policy.
    """
    match = _METADATA_BEFORE_PACKAGE.search(text)
    if match is None:
        return None
    comment = "\n".join(
        line.split("#", 1)[1].removeprefix(" ") for line in match.group(1).splitlines()
    )
    try:
        annotation = yaml.safe_load(comment)
    except yaml.YAMLError:
        return None  # OPA reports a malformed annotation itself, with its line
    custom = annotation.get("custom") if isinstance(annotation, dict) else None
    meshrc = custom.get("meshrc") if isinstance(custom, dict) else None
    if not isinstance(meshrc, dict) or "input_kinds" not in meshrc:
        return None
    kinds = meshrc["input_kinds"]
    if not isinstance(kinds, list) or not all(isinstance(k, str) and k for k in kinds):
        line = text.count("\n", 0, match.start()) + 1
        raise PolicyError(f"{shown}:{line}: custom.meshrc.input_kinds must be a list of kind names")
    return frozenset(kinds)


def _decode(raw: bytes, shown: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{shown}: not UTF-8 ({exc.reason})") from None


def _parse_data(text: str, shown: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if shown.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise PolicyError(f"{shown}: not valid data: {exc}") from None
    if not isinstance(value, dict):
        raise PolicyError(f"{shown}: a data file must hold a mapping")
    return value


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    """Deep-merge ``new`` into ``into``; later values win, as later --policy folders should."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
