"""``meshrc drift``: does each target still run what meshrc last synced to it?

The last synced commit comes from the target itself: a cluster's inventory ConfigMap, an
Envoy folder's current version (the history's ``last_applied`` is only reported beside it).

    Kubernetes  every object of the inventory is read live: gone is ``deleted``; a field the
                commit's object sets that holds something else is ``modified`` (a field-level
                diff, server-set fields ignored; once another field manager wrote to the
                object, fields it added are differences too); an object with meshrc's label
                and this target's annotation that the inventory does not list is ``foreign``
    Envoy       the current version's files against the hashes the sync wrote (``files``);
                with an admin URL, the Envoy's dynamic listeners and clusters against those
                files (``envoy``)

``warn`` (the default) records each drift and, in a cluster, creates an Event (reason
``MeshrcDrift``) on the object (on the inventory ConfigMap for a deleted one); ``heal``
(``drift: heal`` or ``--heal``) also server-side applies the commit's object again, with
force, as field manager meshrc, and records the drift as healed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from reconciler.config import CONFIG_FILE, EnvoyTarget, KubernetesTarget, parse_config
from reconciler.errors import ConfigError, MeshrcError, TargetError, UsageError
from reconciler.snapshots import opened_source
from reconciler.source.git import GitSource
from reconciler.source.loading import load_files
from reconciler.source.trees import CommitTree
from reconciler.state import DriftRecord, StateStore
from reconciler.syncing import envoy_folder
from reconciler.targets.envoy import EnvoyAdmin, file_hash
from reconciler.targets.kubernetes import (
    COMMIT,
    CONFIG_MAP,
    FIELD_MANAGER,
    MANAGED_BY,
    PLURALS,
    REPOSITORY,
    TARGET,
    Cluster,
    DesiredObject,
    Entry,
    Inventory,
    ObjectRef,
    desired_objects,
    inventory_name,
)

Progress = Callable[[str], None]

REASON = "MeshrcDrift"
SERVER_SET = frozenset(
    {
        "resourceVersion",
        "uid",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)
"""Metadata the API server sets: never a difference."""
SHOWN_FIELDS = 3
"""Fields per object in a line of text; JSON and the history have all."""


@dataclass(frozen=True)
class DriftOptions:
    """Which targets to check, and how. ``kubeconfig`` and ``admin_url`` override the
    targets' own."""

    location: str
    state_dir: Path
    ref: str = "HEAD"
    """The commit whose meshrc.yaml names the targets."""
    targets: tuple[str, ...] = ()
    claims: Callable[[str], bool] | None = None
    """Whether this process may check a target (``meshrc serve`` replicas' leader election)."""
    heal: bool = False
    """Heal every target, whatever its ``drift`` mode."""
    cache_dir: Path | None = None
    kubeconfig: Path | None = None
    admin_url: str | None = None


@dataclass(frozen=True)
class TargetDrift:
    """What one target's check found."""

    target: str
    mode: str
    """``warn`` or ``heal``."""
    commit: str | None = None
    """The commit the target says it was last synced to."""
    last_applied: str | None = None
    """The history's last applied (or no-op) commit of the target."""
    drifts: tuple[DriftRecord, ...] = ()
    error: str | None = None
    """Why the target could not be checked."""
    notes: tuple[str, ...] = ()
    """What went wrong beside the check (an Event the API server refused)."""

    @property
    def unhealed(self) -> list[DriftRecord]:
        return [d for d in self.drifts if not d.healed]

    def line(self) -> str:
        """``prod: 2 drifts: VirtualService shop/reviews modified (spec...: 80 -> 10); ...``."""
        if self.error is not None:
            return f"{self.target}: could not check: {self.error}"
        at = f" ({self.commit[:12]})" if self.commit else ""
        if not self.drifts:
            return f"{self.target}: no drift{at}"
        count = f"{len(self.drifts)} drift{'s' if len(self.drifts) != 1 else ''}"
        healed = sum(d.healed for d in self.drifts)
        if healed:
            count += f", {healed} healed"
        return f"{self.target}: {count}{at}: " + "; ".join(_shown(d) for d in self.drifts)

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "mode": self.mode,
            "commit": self.commit,
            "last_applied": self.last_applied,
            "error": self.error,
            "notes": list(self.notes),
            "drifts": [
                {
                    "kind": d.kind,
                    "object": d.object,
                    "fields": d.fields,
                    "healed": d.healed,
                    "detail": d.detail,
                }
                for d in self.drifts
            ],
        }


def _shown(drift: DriftRecord) -> str:
    text = f"{drift.object} {drift.kind}"
    changes = [f"{f['path']}: {_value(f['before'])} -> {_value(f['after'])}" for f in drift.fields]
    if changes:
        more = len(changes) - SHOWN_FIELDS
        text += f" ({', '.join(changes[:SHOWN_FIELDS])}{f', and {more} more' if more > 0 else ''})"
    elif drift.detail:
        text += f" ({drift.detail})"
    return text + (", healed" if drift.healed else "")


def _value(value: Any) -> str:
    if value is None:
        return "(absent)"
    shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def detect(options: DriftOptions, store: StateStore, progress: Progress) -> list[TargetDrift]:
    """Check every target (or those named) of the repository's meshrc.yaml at ``ref``;
    record what was found."""
    with opened_source(options.location, options.cache_dir) as source:
        tree = CommitTree(source, source.resolve(options.ref))
        config = parse_config(tree.read(CONFIG_FILE), tree.shown(CONFIG_FILE))
        if not config.targets:
            raise UsageError("meshrc.yaml names no targets: add a `targets:` list")
        targets = [config.target(n) for n in options.targets] if options.targets else config.targets
        targets = [t for t in targets if options.claims is None or options.claims(t.name)]
        found = []
        for target in targets:
            heal = options.heal or target.drift == "heal"
            mode = "heal" if heal else "warn"
            last = store.last_applied(target.name)
            progress(f"Checking {target.name} for drift")
            result: _Found
            try:
                if isinstance(target, KubernetesTarget):
                    result = _kubernetes(target, source, options, heal)
                else:
                    result = _envoy(target, options)
            except MeshrcError as exc:
                found.append(TargetDrift(target.name, mode, error=str(exc)))
                continue
            for drift in result.drifts:
                store.record_drift(drift)
            last_commit = last.commit if last else None
            found.append(
                TargetDrift(
                    target.name, mode, result.commit, last_commit, result.drifts, notes=result.notes
                )
            )
    return found


@dataclass
class _Found:
    commit: str | None
    drifts: tuple[DriftRecord, ...] = ()
    notes: tuple[str, ...] = ()


def _kubernetes(
    target: KubernetesTarget, source: GitSource, options: DriftOptions, heal: bool
) -> _Found:
    kubeconfig = str(options.kubeconfig) if options.kubeconfig else None
    with Cluster(target, kubeconfig) as cluster:
        inventory = cluster.read_inventory(target)
        if inventory is None or inventory.commit is None:
            raise TargetError(
                f"no inventory ConfigMap {target.namespace}/{inventory_name(target.name)} "
                f"on {cluster.server}: the target was never synced"
            )
        desired = _desired(target, source, inventory)
        check = _ClusterCheck(cluster, target, inventory, desired, heal)
        check.run()
        return _Found(inventory.commit, tuple(check.drifts), tuple(check.notes))


def _desired(
    target: KubernetesTarget, source: GitSource, inventory: Inventory
) -> dict[ObjectRef, DesiredObject]:
    """The objects of the inventory's commit, as that sync made them."""
    commit = inventory.commit
    assert commit is not None
    try:
        tree = CommitTree(source, source.resolve(commit))
    except MeshrcError as exc:
        raise TargetError(
            f"the inventory's commit {commit[:12]} is not in the repository: {exc}"
        ) from None
    config = parse_config(tree.read(CONFIG_FILE), tree.shown(CONFIG_FILE))
    try:
        then = config.target(target.name)
    except ConfigError:
        then = target
    if not isinstance(then, KubernetesTarget):
        then = target
    paths = then.paths if then.paths is not None else config.paths
    documents = load_files(tree.manifests(paths), None).documents
    return desired_objects(documents, then, inventory.repository, commit)


@dataclass
class _ClusterCheck:
    cluster: Cluster
    target: KubernetesTarget
    inventory: Inventory
    desired: dict[ObjectRef, DesiredObject]
    heal: bool
    drifts: list[DriftRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def run(self) -> None:
        known = self.inventory.known()
        for ref, entry in sorted(known.items()):
            live = self.cluster.get(entry)
            wanted = self.desired.get(ref)
            if live is None:
                self._found("deleted", entry, None, wanted, [])
            elif wanted is not None:
                changes = field_diff(wanted.body, live)
                if changes:
                    self._found("modified", entry, live, wanted, changes)
        for entry, live in self._foreign(known):
            self._found("foreign", entry, live, None, [], "ours by its label and annotation")

    def _found(
        self,
        kind: str,
        entry: Entry,
        live: dict[str, Any] | None,
        wanted: DesiredObject | None,
        changes: list[dict[str, Any]],
        detail: str | None = None,
    ) -> None:
        healed = False
        if self.heal and kind != "foreign":
            if wanted is None:
                detail = "not healed: not made from the commit's files (the next sync that plans)"
            else:
                self.cluster.apply(entry, _healing(wanted, live), force=True)
                healed = True
        drift = DriftRecord(
            target=self.target.name,
            found_at=datetime.now(UTC),
            kind=kind,
            object=str(entry.ref),
            commit=self.inventory.commit,
            fields=changes,
            healed=healed,
            detail=detail,
        )
        self.drifts.append(drift)
        self._event(drift, entry, live)

    def _foreign(self, known: dict[ObjectRef, Entry]) -> list[tuple[Entry, dict[str, Any]]]:
        """Objects with meshrc's label and this target's annotation (and this repository's, or
        none) the inventory lacks."""
        versions = {ref.kind: e.api_version for ref, e in known.items()}
        selector = quote(f"{MANAGED_BY}={FIELD_MANAGER}", safe="")
        found = []
        for kind, plural in [*PLURALS.items(), (CONFIG_MAP, "configmaps")]:
            version = versions.get(kind) or ("v1" if kind == CONFIG_MAP else "")
            if not version:
                version = next(iter(versions.values()), "networking.istio.io/v1")
                if not version.startswith("networking.istio.io/"):
                    version = "networking.istio.io/v1"
            base = "/api/v1" if kind == CONFIG_MAP else f"/apis/{version}"
            for item in self.cluster.list_items(
                f"{base}/{plural}?labelSelector={selector}", f"{plural} with meshrc's label"
            ):
                meta = item.get("metadata") or {}
                notes = meta.get("annotations") or {}
                if notes.get(TARGET) != self.target.name or notes.get(REPOSITORY) not in (
                    None,
                    self.inventory.repository,
                ):
                    continue  # another target's, or the same name synced from elsewhere
                ref = ObjectRef(kind, str(meta.get("namespace")), str(meta.get("name")))
                if ref in known or (
                    kind == CONFIG_MAP and ref.name == inventory_name(self.target.name)
                ):
                    continue
                found.append((Entry(ref, version, ""), item))
        return found

    def _event(self, drift: DriftRecord, entry: Entry, live: dict[str, Any] | None) -> None:
        """A Warning Event on the object (on the inventory for a deleted one); a refusal is
        a note, not a failure of the check."""
        about = live
        if about is None:
            where = Entry(
                ObjectRef(CONFIG_MAP, self.inventory.namespace, self.inventory.name), "v1", ""
            )
            about = self.cluster.get(where) or {}
            api_version, kind = "v1", CONFIG_MAP
        else:
            api_version, kind = entry.api_version, entry.ref.kind
        meta = about.get("metadata") or {}
        namespace = str(meta.get("namespace") or self.inventory.namespace)
        message = f"meshrc drift on target {self.target.name}: {_shown(drift)}"
        now = drift.found_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": "meshrc-drift-", "namespace": namespace},
            "involvedObject": {
                "apiVersion": api_version,
                "kind": kind,
                "namespace": namespace,
                "name": meta.get("name"),
                "uid": meta.get("uid"),
            },
            "reason": REASON,
            "message": message[:1000],
            "type": "Warning",
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.cluster.create_event(namespace, event)
        except TargetError as exc:
            self.notes.append(f"no Event for {drift.object}: {exc}")


def _healing(wanted: DesiredObject, live: dict[str, Any] | None) -> dict[str, Any]:
    """The commit's object, keeping the commit annotation the object has (the commit that
    last changed it)."""
    body = wanted.body
    was = ((live or {}).get("metadata") or {}).get("annotations") or {}
    if COMMIT not in was:
        return body
    meta = body["metadata"]
    return {
        **body,
        "metadata": {**meta, "annotations": {**meta["annotations"], COMMIT: was[COMMIT]}},
    }


def field_diff(desired: dict[str, Any], live: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields the applied object sets that the live one holds otherwise:
    ``{"path", "before", "after"}`` (before: the commit's, after: the cluster's).

    No difference for what the API server does to an object: server-set metadata and
    ``status``, map key order, ``"1"`` for ``1`` (int-or-string), an empty list, map or
    string for an absent field. Labels and annotations others add are theirs. Once another
    field manager wrote to the object, fields of ``spec`` (and other top-level fields) it
    added are differences too."""
    changes: list[dict[str, Any]] = []
    want_meta = desired.get("metadata") or {}
    live_meta = live.get("metadata") or {}
    for key in ("labels", "annotations"):
        want = {k: v for k, v in (want_meta.get(key) or {}).items() if k != COMMIT}
        have = live_meta.get(key) or {}
        for name, value in sorted(want.items()):
            if not _same(value, have.get(name)):
                changes.append(_change(f"metadata.{key}{_key(name)}", value, have.get(name)))
    others = any(m.get("manager") != FIELD_MANAGER for m in live_meta.get("managedFields") or [])
    for key in sorted(set(desired) | (set(live) if others else set())):
        if key in ("apiVersion", "kind", "metadata", "status"):
            continue
        _compare(desired.get(key), live.get(key), key, changes, others)
    return changes


def _compare(want: Any, have: Any, path: str, out: list[dict[str, Any]], extras: bool) -> None:
    if _empty(want) and _empty(have):
        return
    if want is None:
        if extras:
            out.append(_change(path, None, have))
        return
    if isinstance(want, dict) and isinstance(have, dict):
        for key in sorted(set(want) | (set(have) if extras else set())):
            _compare(want.get(key), have.get(key), f"{path}{_key(key)}", out, extras)
    elif isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        for i, (a, b) in enumerate(zip(want, have, strict=True)):
            _compare(a, b, f"{path}[{i}]", out, extras)
    elif isinstance(want, list | dict) or isinstance(have, list | dict) or not _same(want, have):
        out.append(_change(path, want, have))


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, list | dict | str) and not value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return a == b
    if {type(a), type(b)} <= {int, float, str} and str in {type(a), type(b)}:
        return str(a) == str(b)  # int-or-string
    if isinstance(a, dict | list) and isinstance(b, dict | list):
        changes: list[dict[str, Any]] = []
        _compare(a, b, "", changes, extras=False)
        return not changes
    return bool(a == b)


def _key(name: str) -> str:
    return f".{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name) else f'["{name}"]'


def _change(path: str, before: Any, after: Any) -> dict[str, Any]:
    return {"path": path, "before": before, "after": after}


def _envoy(target: EnvoyTarget, options: DriftOptions) -> _Found:
    folder = envoy_folder(target, options.state_dir)
    current = folder.current()
    if current is None:
        raise TargetError(f"{folder.directory} has no version: the target was never synced")
    manifest = folder.manifest(current)
    names = [str(n) for n in manifest.get("files") or []]
    hashes = manifest.get("hashes") or {}
    drifts: list[DriftRecord] = []

    def found(kind: str, what: str, detail: str, changes: list[dict[str, Any]]) -> None:
        drifts.append(
            DriftRecord(
                target.name,
                datetime.now(UTC),
                kind,
                what,
                current.commit,
                changes,
                False,
                detail,
            )
        )

    texts: dict[str, str] = {}
    for name in names:
        link = folder.directory / name
        if not (link.is_symlink() and str(link.readlink()) == f"..data/{name}"):
            found("files", str(link), "no longer the link into ..data", [])
        try:
            texts[name] = (folder.directory / current.name / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            found("files", str(folder.directory / current.name / name), "deleted", [])
            continue
        if name in hashes and file_hash(texts[name]) != hashes[name]:
            found("files", str(folder.directory / current.name / name), "edited", [])
    if not hashes and len(texts) == len(names):  # a version written before per-file hashes
        whole = hashlib.sha256(
            "".join(f"{name}\0{text}\0" for name, text in sorted(texts.items())).encode()
        ).hexdigest()
        if whole != current.content_hash:
            found("files", str(folder.directory / current.name), "edited", [])
    admin_url = options.admin_url or target.admin_url or folder.admin_url()
    if admin_url:
        running = EnvoyAdmin(admin_url).dynamic_names()
        for kind, file in (("listeners", "lds.yaml"), ("clusters", "cds.yaml")):
            expected = _names(texts.get(file, ""))
            missing = sorted(expected - set(running[kind]))
            extra = sorted(set(running[kind]) - expected)
            if missing or extra:
                changes = [_change(f"{kind}.{n}", "present", None) for n in missing] + [
                    _change(f"{kind}.{n}", None, "present") for n in extra
                ]
                found("envoy", f"Envoy {admin_url} {kind}", f"{kind} differ", changes)
    return _Found(current.commit, tuple(drifts))


def _names(text: str) -> set[str]:
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return set()
    resources = loaded.get("resources") if isinstance(loaded, dict) else None
    return {str(r.get("name")) for r in resources or [] if isinstance(r, dict)}
