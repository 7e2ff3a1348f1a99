"""``meshrc sync``: a commit goes from Git to its targets in named steps, and every sync is
recorded, whatever happens.

    1 fetch    open the repository (a mirror of a remote), resolve the ref
    2 load     the commit's meshrc.yaml and manifests
    3 check    the Python checks and Rego policies, exactly as ``meshrc check``: a commit
               that fails them is never applied, and the sync is recorded ``blocked``
    4 render   each target's Envoy configuration (and Envoy validates it)
    5 plan     against what the target runs (content hashes): nothing new is a ``no-op``
    6 apply    the new version written whole, then switched to in one step
    7 health   the target took it; if it rejected it, switch back (``rolled-back``)
    8 record   one history record per target, and one per rollback

A Kubernetes target (:mod:`reconciler.targets.kubernetes`) plans against the inventory it
keeps in the cluster, sends every change as a server-side dry run first, applies in
make-before-break order, and puts back what it changed when a step fails.

A target that fails does not stop the others: each is synced independently.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.checking import check_files
from reconciler.codes import Severity
from reconciler.config import EnvoyTarget, KubernetesTarget, RepoConfig
from reconciler.errors import MeshrcError, TargetError, UsageError
from reconciler.planning import CheckChoices, CheckPlan
from reconciler.policy.engines import EmbeddedEngine, Engine
from reconciler.render.endpoints import (
    EndpointTable,
    from_snapshot,
    parse_endpoints_file,
    subset_labels,
)
from reconciler.render.layouts import bootstrap, dumps, xds_files
from reconciler.render.options import RenderOptions
from reconciler.render.proxies import render_proxy
from reconciler.snapshots import MeshState, opened_source, read_state
from reconciler.source.documents import DEFAULT_MAX_FILE_BYTES
from reconciler.source.git import CommitInfo, safe_url
from reconciler.source.loading import SourceFile, load_files
from reconciler.source.trees import CommitTree
from reconciler.state import RollbackRecord, StateStore, SyncRecord, SyncResult
from reconciler.sync_diffs import routing_diff
from reconciler.targets.envoy import EnvoyAdmin, EnvoyFolder
from reconciler.targets.envoy_configmaps import EnvoyConfigMaps
from reconciler.targets.kubernetes import (
    Cluster,
    Inventory,
    Plan,
    Rollout,
    WriteHook,
    content_hash,
    desired_objects,
    preflight,
    source_key,
)
from reconciler.verify.envoy import validate

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SyncOptions:
    """What to sync where. ``endpoints`` and ``admin_url`` override every Envoy target's,
    ``kubeconfig`` every Kubernetes target's."""

    location: str
    state_dir: Path
    ref: str = "HEAD"
    targets: tuple[str, ...] = ()
    dry_run: bool = False
    cache_dir: Path | None = None
    endpoints: Path | None = None
    admin_url: str | None = None
    namespace: str = "default"
    engine: Engine = field(default_factory=EmbeddedEngine)
    kubeconfig: Path | None = None
    force_conflicts: bool = False
    """Take over the fields other field managers own (server-side apply's force)."""
    before_write: WriteHook | None = None
    """Called before each write to a cluster's object: where tests cut a sync short."""
    claims: Callable[[str], bool] | None = None
    """Whether this process may sync a target now (``meshrc serve`` replicas' leader
    election): asked when the targets are chosen, and again before each target's turn."""
    auto_revert: bool = False
    """A target rolled back: also commit (and push) a revert of the commit(s) that failed,
    so that Git says what runs (:func:`reconciler.rollback.auto_revert`, run after
    :func:`sync` by ``meshrc sync`` and ``meshrc serve``)."""
    revert_author: str | None = None
    """``Name <email>`` of that revert (default: as ``meshrc rollback``)."""
    abandon: threading.Event | None = None
    """Set when ``meshrc serve`` is stopping and this sync has run out of time: the sync stops
    before the next target's apply (never inside one) and records ``abandoned``."""


@dataclass(frozen=True)
class AutoRevert:
    """What ``--auto-revert`` did about the rollbacks of one sync: the revert commit made,
    or why none was (:func:`reconciler.rollback.auto_revert`)."""

    commit: str | None
    """The revert commit; None when it was not made (``detail`` says why)."""
    reverted: tuple[str, ...]
    """The commits it reverts, newest first."""
    pushed: bool
    detail: str


@dataclass(frozen=True)
class Outcome:
    """How one target's sync ended, in a line for people."""

    target: str
    result: SyncResult | None
    """None for a dry run: nothing was done."""
    commit: str
    detail: str
    changes: tuple[str, ...] = ()
    """A dry run's changes, one a line (``create VirtualService shop/reviews``)."""
    directory: Path | None = None
    """An Envoy target's folder (what ``--run-envoy`` serves)."""
    rollback: RollbackRecord | None = None
    """A rolled-back sync's record of the rollback (with its id), naming the commit gone
    back to; None when there was none to go back to."""
    revert: AutoRevert | None = None
    """With ``auto_revert``, of a rolled-back target: the revert made, or why none was."""


@dataclass
class _Commit:
    info: CommitInfo
    ref: str
    repository: str
    started: datetime
    diffs: dict[str | None, dict[str, Any] | None] = field(default_factory=dict)
    """Routing diffs from the commit a target ran before: one per such commit in a sync,
    however many targets ran it."""

    def routing_diff(
        self, tree: CommitTree, state: MeshState | None, previous: str | None, options: SyncOptions
    ) -> dict[str, Any] | None:
        if previous not in self.diffs:
            self.diffs[previous] = routing_diff(
                tree, state, previous, options.namespace, options.cache_dir
            )
        return self.diffs[previous]


def sync(options: SyncOptions, store: StateStore, progress: Progress) -> list[Outcome]:
    """Sync ``options.ref`` of the repository to its targets; one outcome per target."""
    progress(f"Fetching {safe_url(options.location)}")
    with opened_source(options.location, options.cache_dir) as source:
        commit = source.resolve(options.ref)
        info = source.commit_info(commit)
        tree = CommitTree(source, commit)
        choices = CheckChoices(
            ignores=(), only=None, policy_dirs=(), no_builtin_policies=False, params={},
            namespace=options.namespace, max_file_size=DEFAULT_MAX_FILE_BYTES,
            cache_dir=options.cache_dir,
        )  # fmt: skip
        progress(f"Loading {info.short_id} ({info.summary})")
        plan = CheckPlan.of(tree, None, choices)
        targets = _chosen(plan.config, options.targets, options.claims, progress)
        progress(f"Checking {info.short_id}")
        check_options = plan.options(choices, options.engine, {"id": commit, "ref": options.ref})
        checked = tree.manifests(plan.paths)
        report = check_files(checked, check_options)
        parse_cache = options.cache_dir / "parsed" if options.cache_dir else None
        state: MeshState | None = None  # read when an Envoy target needs it
        about = _Commit(info, options.ref, safe_url(options.location), datetime.now(UTC))
        threshold = plan.config.fail_on or "error"
        failing = [] if threshold == "none" else report.failing(Severity(threshold))
        outcomes = []
        for target in targets:
            if not _claimed(target.name, options.claims, progress):
                continue  # the lease was lost during this sync: the new holder syncs it
            folder = (
                envoy_folder(target, options.state_dir).directory
                if isinstance(target, EnvoyTarget)
                else None
            )
            abandoned = _abandoned(target.name, about, store, options)
            if abandoned:
                outcomes.append(replace(abandoned, directory=folder))
            elif failing:
                blocked = _blocked(target.name, about, failing, store, options)
                outcomes.append(replace(blocked, directory=folder))
            elif isinstance(target, KubernetesTarget):
                outcomes.append(
                    _sync_kubernetes(target, tree, checked, about, store, options, progress)
                )
            else:
                state = state or read_state(tree, None, options.namespace, parse_cache, commit)
                outcome = _sync_envoy(target, state, tree, about, store, options, progress)
                outcomes.append(replace(outcome, directory=folder))
    return outcomes


def envoy_folder(target: EnvoyTarget, state_dir: Path) -> EnvoyFolder:
    """The target's folder: its ``directory``, else ``<state dir>/envoy/<name>``."""
    return EnvoyFolder(
        Path(target.directory).expanduser()
        if target.directory
        else state_dir / "envoy" / target.name
    )


def _chosen(
    config: RepoConfig,
    names: tuple[str, ...],
    claims: Callable[[str], bool] | None,
    progress: Progress,
) -> list[EnvoyTarget | KubernetesTarget]:
    if not config.targets:
        raise UsageError("meshrc.yaml names no targets: add a `targets:` list (meshrc sync --help)")
    targets = [config.target(n) for n in names] if names else list(config.targets)
    return [target for target in targets if _claimed(target.name, claims, progress)]


def _claimed(target: str, claims: Callable[[str], bool] | None, progress: Progress) -> bool:
    """Whether this process may sync the target now; a line for those it may not."""
    if claims is None or claims(target):
        return True
    progress(f"Skipping {target}: another replica syncs it")
    return False


def _record(
    store: StateStore,
    options: SyncOptions,
    target: str,
    about: _Commit,
    result: SyncResult,
    **fields: Any,
) -> SyncRecord:
    record = SyncRecord(
        target=target,
        commit=about.info.id,
        result=result,
        started=about.started,
        finished=datetime.now(UTC),
        repository=about.repository,
        ref=about.ref,
        author=f"{about.info.author_name} <{about.info.author_email}>",
        message=about.info.summary,
        reverts=list(about.info.reverts) or None,
        **fields,
    )
    if not options.dry_run:
        store.record_sync(record)
    return record


def _abandoned(
    target: str, about: _Commit, store: StateStore, options: SyncOptions
) -> Outcome | None:
    """When meshrc is stopping and out of time: the sync ends here, recorded, nothing applied."""
    if options.abandon is None or not options.abandon.is_set():
        return None
    reason = "meshrc was stopping; nothing was applied, and the next sync applies this commit"
    _record(store, options, target, about, SyncResult.ABANDONED, error=reason)
    return Outcome(target, SyncResult.ABANDONED, about.info.id, f"abandoned: {reason}")


def _blocked(
    target: str,
    about: _Commit,
    failing: list[Any],
    store: StateStore,
    options: SyncOptions,
) -> Outcome:
    findings = [f.model_dump(mode="json", exclude_none=True) for f in failing]
    _record(store, options, target, about, SyncResult.BLOCKED, findings=findings)
    first = failing[0]
    where = f"{first.file}:{first.line}" if first.file else "the repository"
    return Outcome(
        target,
        SyncResult.BLOCKED,
        about.info.id,
        f"blocked: {len(failing)} finding(s) fail the checks, first {first.code} at {where}; "
        "the target stays on its last good commit",
    )


def _sync_envoy(
    target: EnvoyTarget,
    state: MeshState,
    tree: CommitTree,
    about: _Commit,
    store: StateStore,
    options: SyncOptions,
    progress: Progress,
) -> Outcome:
    folder = envoy_folder(target, options.state_dir)
    commit = about.info.id
    try:
        progress(f"Rendering {target.proxy} for {target.name}")
        rendered = render_proxy(
            state.snapshot,
            target.proxy,
            _endpoints(target, state, tree, options),
            RenderOptions(namespace=target.namespace, port_offset=target.port_offset),
        )
        files = {
            name: dumps(document, "yaml")
            for name, document in xds_files(rendered, str(folder.directory.resolve())).items()
        }
        content_hash = hashlib.sha256(
            "".join(f"{name}\0{text}\0" for name, text in sorted(files.items())).encode()
        ).hexdigest()
        current = folder.current()
        counts = {"listeners": len(rendered.listeners), "clusters": len(rendered.clusters)}
        if current is not None and current.content_hash == content_hash:
            _record(
                store,
                options,
                target.name,
                about,
                SyncResult.NO_OP,
                content_hash=content_hash,
                counts=counts,
            )
            return Outcome(target.name, SyncResult.NO_OP, commit, f"up to date ({current.name})")
        validate(bootstrap(rendered))  # only what is new: a no-op starts no Envoy
        if options.dry_run:
            was = f"from {current.commit[:12]}" if current else "first version"
            sizes = f"{counts['listeners']} listeners and {counts['clusters']} clusters"
            return Outcome(target.name, None, commit, f"would apply {sizes} ({was})")
        abandoned = _abandoned(target.name, about, store, options)
        if abandoned:
            return abandoned
        admin_url = options.admin_url or target.admin_url or folder.admin_url()
        admin = EnvoyAdmin(admin_url) if admin_url else None
        before = admin.update_counters() if admin and current else {}
        progress(f"Applying {about.info.short_id} to {target.name}")
        version = folder.write(files, commit, content_hash)
        folder.activate(version)
        problem = admin.confirm(before) if admin and current else None
    except MeshrcError as exc:
        _record(store, options, target.name, about, SyncResult.FAILED, error=str(exc))
        return Outcome(target.name, SyncResult.FAILED, commit, f"failed: {exc}")
    if problem is None:
        previous = current.commit if current else None
        diff = about.routing_diff(tree, state, previous, options)
        _record(
            store,
            options,
            target.name,
            about,
            SyncResult.APPLIED,
            content_hash=content_hash,
            counts=counts,
            routing_diff=diff,
        )
        confirmed = "confirmed by Envoy" if admin and current else "written"
        return Outcome(target.name, SyncResult.APPLIED, commit, f"applied ({confirmed})")
    assert current is not None
    folder.activate(current)
    rollback = RollbackRecord(
        target=target.name,
        from_commit=commit,
        to_commit=current.commit,
        reason=problem,
        at=datetime.now(UTC),
    )
    rollback = replace(rollback, id=store.record_rollback(rollback))
    _record(
        store, options, target.name, about, SyncResult.ROLLED_BACK, error=problem, counts=counts
    )
    return Outcome(
        target.name,
        SyncResult.ROLLED_BACK,
        commit,
        f"rolled back to {current.commit[:12]}: {problem}",
        rollback=rollback,
    )


def _sync_kubernetes(
    target: KubernetesTarget,
    tree: CommitTree,
    checked: list[SourceFile],
    about: _Commit,
    store: StateStore,
    options: SyncOptions,
    progress: Progress,
) -> Outcome:
    """Plan against the inventory the cluster keeps (the files' key first: an unchanged tree
    costs one read), send every change as a server-side dry run, then apply them in
    make-before-break order, and put everything back when a step fails. The rendered Envoy
    ConfigMaps (``apply: [istio, envoy]``) are more objects, each loaded by an Envoy first."""
    commit = about.info.id
    kubeconfig = str(options.kubeconfig) if options.kubeconfig else None
    source = tree.source  # the annotation names a local repository by its absolute path
    repository = source.location if source.is_mirror else str(Path(source.location).resolve())
    try:
        files = _target_files(target, tree, checked)
        key = source_key(target, repository, files)
        with Cluster(target, kubeconfig) as cluster:
            progress(f"Planning {target.name} against {cluster.server}")
            inventory = cluster.read_inventory(target)
            if inventory is not None and inventory.settled(key):
                unchanged = {"unchanged": len(inventory.objects)}
                return _up_to_date(target, about, store, options, inventory, unchanged)
            parse_cache = options.cache_dir / "parsed" if options.cache_dir else None
            documents = load_files(files, parse_cache).documents
            desired = desired_objects(documents, target, repository, commit)
            configmaps = EnvoyConfigMaps.of(cluster, target, documents, repository, commit)
            desired.update(configmaps.objects)
            plan = Plan.of(desired, inventory, target.prune)
            if plan.empty:
                return _up_to_date(target, about, store, options, inventory, plan.counts)
            configmaps.validate(plan)
            entries = [wanted.entry for wanted in desired.values()]
            settled = Inventory(
                target.name,
                target.namespace,
                commit,
                repository,
                key,
                content_hash(entries),
                (*entries, *plan.kept),
            )
            progress(f"Sending {len(plan.changed())} change(s) to {target.name} as a dry run")
            existing = preflight(cluster, plan, options.force_conflicts)
            if options.dry_run:
                return Outcome(
                    target.name,
                    None,
                    commit,
                    f"would apply to {cluster.server}: {plan.summary()}",
                    tuple(plan.lines()),
                )
            abandoned = _abandoned(target.name, about, store, options)
            if abandoned:
                return abandoned
            rollout = Rollout(
                cluster, plan, inventory, settled, options.force_conflicts, options.before_write
            )
            progress(f"Applying {about.info.short_id} to {target.name}: {plan.summary()}")
            try:
                rollout.run(existing)
            except TargetError as exc:
                return _undo(rollout, exc, target, about, store, options, progress)
    except MeshrcError as exc:
        return _failed(store, options, target, about, str(exc), {})
    previous = inventory.commit if inventory else None
    diff = about.routing_diff(tree, None, previous, options)
    applied = {"content_hash": settled.content_hash, "counts": plan.counts, "routing_diff": diff}
    _record(store, options, target.name, about, SyncResult.APPLIED, **applied)
    return Outcome(
        target.name, SyncResult.APPLIED, commit, f"applied to {cluster.server}: {plan.summary()}"
    )


def _target_files(
    target: KubernetesTarget, tree: CommitTree, checked: list[SourceFile]
) -> list[SourceFile]:
    """The target's manifests (its own ``paths``, else the checked ones): a file the checks
    did not read is never applied."""
    if target.paths is None:
        return checked
    files = tree.manifests(target.paths)
    seen = {source.path for source in checked}
    unchecked = [source.path for source in files if source.path not in seen]
    if unchecked:
        raise UsageError(
            f"target {target.name}: {len(unchecked)} file(s) of its paths are outside the "
            f"paths meshrc.yaml checks, first {unchecked[0]}; a sync applies checked files only"
        )
    return files


def _up_to_date(
    target: KubernetesTarget,
    about: _Commit,
    store: StateStore,
    options: SyncOptions,
    inventory: Inventory | None,
    counts: dict[str, int],
) -> Outcome:
    hash_ = inventory.content_hash if inventory else None
    _record(store, options, target.name, about, SyncResult.NO_OP, content_hash=hash_, counts=counts)
    since = f" ({inventory.commit[:12]})" if inventory and inventory.commit else ""
    return Outcome(target.name, SyncResult.NO_OP, about.info.id, f"up to date{since}")


def _failed(
    store: StateStore,
    options: SyncOptions,
    target: KubernetesTarget,
    about: _Commit,
    error: str,
    counts: dict[str, int],
) -> Outcome:
    _record(store, options, target.name, about, SyncResult.FAILED, error=error, counts=counts)
    return Outcome(target.name, SyncResult.FAILED, about.info.id, f"failed: {error}")


def _undo(
    rollout: Rollout,
    failure: TargetError,
    target: KubernetesTarget,
    about: _Commit,
    store: StateStore,
    options: SyncOptions,
    progress: Progress,
) -> Outcome:
    """A sync that failed part-way: what it changed put back and recorded ``rolled-back``;
    or, when even that fails, ``failed``, and the inventory lists what may have changed."""
    commit, counts = about.info.id, rollout.plan.counts
    if not rollout.started:
        return _failed(store, options, target, about, f"{failure}; nothing was applied", counts)
    progress(f"Rolling back {target.name}")
    try:
        rollout.undo()
    except MeshrcError as exc:
        error = (
            f"{failure}; the rollback failed too: {exc}; the inventory (ConfigMap "
            f"{target.namespace}/{rollout.settled.name}) lists what may have changed, and the "
            "next sync applies it again"
        )
        return _failed(store, options, target, about, error, counts)
    previous = rollout.inventory.commit if rollout.inventory else None
    rollback = None
    if previous:
        rollback = RollbackRecord(target.name, commit, previous, str(failure), datetime.now(UTC))
        rollback = replace(rollback, id=store.record_rollback(rollback))
    _record(
        store,
        options,
        target.name,
        about,
        SyncResult.ROLLED_BACK,
        error=str(failure),
        counts=counts,
    )
    back = f"rolled back to {previous[:12]}" if previous else "rolled back (nothing was there)"
    return Outcome(
        target.name, SyncResult.ROLLED_BACK, commit, f"{back}: {failure}", rollback=rollback
    )


def _endpoints(
    target: EnvoyTarget, state: MeshState, tree: CommitTree, options: SyncOptions
) -> EndpointTable:
    """The files' endpoints, and those of the target's endpoints file (``--endpoints`` on
    this machine, else ``endpoints:`` in the repository)."""
    table = from_snapshot(state.snapshot)
    if options.endpoints is not None:
        try:
            text, shown = options.endpoints.read_text(encoding="utf-8"), str(options.endpoints)
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read --endpoints {options.endpoints}: {exc}") from None
    elif target.endpoints:
        raw = tree.read(target.endpoints)
        if raw is None:
            raise UsageError(
                f"target {target.name}: endpoints file {target.endpoints} is not in the commit"
            )
        text, shown = raw.decode("utf-8", errors="replace"), tree.shown(target.endpoints)
    else:
        return table
    return table.merged(parse_endpoints_file(text, shown, subset_labels(state.snapshot)))
