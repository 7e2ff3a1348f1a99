"""``meshrc rollback``: put a target back on an earlier commit by a real ``git revert``.

Nothing is rewritten: one new commit on top of the branch head undoes the commits the target
ran after the chosen one, and is then synced like any other commit, so Git stays the truth
and the history shows the rollback as a sync of a revert.

    1 choose   ``--steps N``: the Nth applied commit before the target's current one (the
               history's applied and no-op syncs, distinct commits, newest first);
               ``--to COMMIT``: that commit, an ancestor of the branch head
    2 revert   each commit after it up to the one the target runs, newest first, with
               libgit2's three-way merge (as ``git revert``): later changes elsewhere stay;
               a conflict refuses the rollback, naming the commit and the files, and no
               commit is made
    3 commit   one revert commit on the branch (a local repository; its work tree must be
               clean), or in a temporary clone of a remote, pushed with ``--push``
    4 sync     that commit to the target (:func:`reconciler.syncing.sync`)

``meshrc sync --auto-revert`` (:func:`auto_revert`) makes the same kind of commit by itself
when a target rejected the synced commit and was rolled back, so that Git says what runs.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, FileStatus

from reconciler.errors import MeshrcError, RefNotFoundError, UsageError
from reconciler.source.git import (
    Credentials,
    clone_for_push,
    is_remote,
    open_repository,
    push,
    safe_url,
)
from reconciler.state import RollbackRecord, StateStore, SyncResult
from reconciler.syncing import AutoRevert, Outcome, Progress, SyncOptions, sync

DEFAULT_NAME = "meshrc"
DEFAULT_EMAIL = "meshrc@localhost"
TRAILER = "Meshrc-Rollback"

AUTHOR_RE = re.compile(r"^\s*(?P<name>[^<>]*?[^<>\s])\s*<(?P<email>[^<>\s]+)>\s*$")
"""``Name <email>``: a name, then an address in angle brackets."""
_HISTORY_LIMIT = 10_000
"""Syncs of the target read to count ``--steps`` back."""


class RollbackError(MeshrcError):
    """The rollback cannot be made: a conflicting revert, a dirty work tree, nothing to undo."""


@dataclass(frozen=True)
class RollbackRequest:
    """What to go back to on which target, and how to commit it."""

    target: str
    to: str | None = None
    """A commit (id, tag, branch, ``HEAD~2``): ancestor of the branch head."""
    steps: int | None = None
    """Applied commits back from the target's current one (default 1 when ``to`` is unset)."""
    branch: str | None = None
    """Default: the branch HEAD names (a remote's default branch)."""
    push: bool = False
    author: str | None = None
    """``Name <email>``; default: git config's user, else ``meshrc <meshrc@localhost>``."""
    reason: str | None = None
    sync: bool = True


@dataclass(frozen=True)
class RollbackResult:
    """The revert made, and how the sync of it went (None with ``sync=False``)."""

    target: str
    to: str
    """The commit gone back to."""
    revert: str
    """The new revert commit."""
    reverted: tuple[str, ...]
    """Newest first."""
    branch: str
    message: str
    pushed: bool
    outcome: Outcome | None


def rollback(
    request: RollbackRequest, options: SyncOptions, store: StateStore, progress: Progress
) -> RollbackResult:
    """Revert ``request.target`` to an earlier commit of ``options.location``: one revert
    commit on the branch (pushed for a remote), then synced to the target."""
    if request.to is not None and request.steps is not None:
        raise UsageError("give --to or --steps, not both")
    if request.steps is not None and request.steps < 1:
        raise UsageError("--steps must be 1 or more")
    remote = is_remote(options.location)
    if remote and not request.push:
        raise UsageError(
            f"{safe_url(options.location)} is a remote repository: without --push the revert "
            "would stay in a temporary clone and nothing would change (add --push)"
        )
    with _working_repository(options.location, remote, progress) as repo:
        branch = request.branch or _head_branch(repo, options.location)
        head = _branch_head(repo, branch, options.location)
        if not remote and not repo.is_bare:
            _require_clean(repo, options.location)
        current = _current(repo, head, store, request.target)
        chosen = _chosen(repo, request, store, head, current)
        upper = current if current is not None else head
        reverted = _first_parent_range(upper, chosen)
        progress(f"Reverting {len(reverted)} commit(s) to {chosen.short_id}")
        tree = _reverted_tree(repo, head, reverted)
        if tree.id == head.tree.id:
            raise RollbackError(
                f"the revert would change nothing: {branch} already undoes "
                f"{', '.join(c.short_id for c in reverted)}; `meshrc sync --ref {branch}` "
                "brings the target there"
            )
        signature = parse_author(request.author, "--author") or _default_signature(repo)
        message = revert_message([request.target], chosen, reverted, request.reason)
        new = _commit_revert(repo, branch, head, tree, signature, message, options, progress)
    outcome = None
    if request.sync:
        synced = replace(options, ref=new, targets=(request.target,))
        (outcome,) = sync(synced, store, progress)
    return RollbackResult(
        target=request.target,
        to=str(chosen.id),
        revert=new,
        reverted=tuple(str(c.id) for c in reverted),
        branch=branch,
        message=message,
        pushed=remote,
        outcome=outcome,
    )


def revert_message(
    targets: list[str],
    to: pygit2.Commit,
    reverted: list[pygit2.Commit],
    reason: str | None,
    details: list[str] | None = None,
) -> str:
    """``Revert to <short> on <targets>: <reason>``, the ``details`` lines, a ``This reverts
    commit <sha>.`` line per reverted commit (as ``git revert`` writes it) and a
    ``Meshrc-Rollback`` trailer per target."""
    subject = f"Revert to {str(to.id)[:7]} on {', '.join(targets)}"
    if reason and reason.strip():
        subject += f": {' '.join(reason.split())}"
    paragraphs = [
        subject,
        *(["\n".join(details)] if details else []),
        "\n".join(f"This reverts commit {c.id}." for c in reverted),
        "\n".join(f"{TRAILER}: {target}" for target in targets),
    ]
    return "\n\n".join(paragraphs) + "\n"


AUTO_REVERT_REASON = "auto-revert"
"""How the revert commit's subject and the amended rollback records name the cause."""

_SUBJECT_REASON_CHARS = 120
"""Of the apply error in the revert's subject; the body has its whole first line."""


def auto_revert(
    options: SyncOptions, outcomes: list[Outcome], store: StateStore, progress: Progress
) -> list[Outcome]:
    """The outcomes, those rolled back with :class:`AutoRevert` set: one revert commit on
    the synced branch undoes the failed commit(s) back to the targets' last good one, pushed
    to the repository the sync fetched from (never forced). A revert that cannot be made
    (the branch moved on, a conflict, a refused push) is reported and leaves the rollback
    as it is; either way, the rollback records say what became of it."""
    rolled = [o for o in outcomes if o.result is SyncResult.ROLLED_BACK]
    if not rolled or not options.auto_revert or options.dry_run:
        return outcomes
    try:
        revert = _revert_failed(options, rolled, progress)
    except (MeshrcError, pygit2.GitError, OSError) as exc:
        revert = AutoRevert(None, (), False, f"not reverting: {exc}")
    progress(f"Auto-revert: {revert.detail}")
    for outcome in rolled:
        if outcome.rollback is not None and outcome.rollback.id is not None:
            reason = f"{outcome.rollback.reason}; {AUTO_REVERT_REASON}: {revert.detail}"
            store.amend_rollback(outcome.rollback.id, reason)
    return [
        replace(o, revert=revert) if o.result is SyncResult.ROLLED_BACK else o for o in outcomes
    ]


def _revert_failed(options: SyncOptions, rolled: list[Outcome], progress: Progress) -> AutoRevert:
    """One revert commit for the commit every outcome in ``rolled`` rolled back from."""
    failed = rolled[0].commit
    backs = [o.rollback for o in rolled if o.rollback is not None]
    if not backs:
        raise RollbackError("no target had a last good commit to go back to")
    remote = is_remote(options.location)
    with _working_repository(options.location, remote, progress) as repo:
        branch = _synced_branch(repo, options.ref, options.location)
        head = _branch_head(repo, branch, options.location)
        if str(head.id) != failed:
            raise RollbackError(
                f"branch moved on; {branch} is at {head.short_id}, not at {failed[:12]} that "
                "failed: reverting it now would also undo commits no target has tried "
                "(nothing was committed)"
            )
        good = _newest_good(repo, head, backs)
        reverted = _first_parent_range(head, good)
        tree = _reverted_tree(repo, head, reverted)
        if tree.id == head.tree.id:
            raise RollbackError(f"{head.short_id} has the same files as {good.short_id}")
        if not remote and not repo.is_bare and _head_ref(repo) == f"refs/heads/{branch}":
            _require_clean(repo, options.location)
        signature = parse_author(options.revert_author, "--revert-author")
        message = revert_message(
            [o.target for o in rolled],
            good,
            reverted,
            f"{AUTO_REVERT_REASON}: {_clipped(backs[0].reason)}",
            [f"{b.target}: applying {failed[:12]} failed: {_first_line(b.reason)}" for b in backs],
        )
        progress(f"Reverting {len(reverted)} commit(s) to {good.short_id} on {branch}")
        new = _commit_revert(
            repo, branch, head, tree, signature or _default_signature(repo), message, options,
            progress,
        )  # fmt: skip
        shown = ", ".join(c.short_id for c in reverted)  # while the repository is open
        where = f"pushed to {safe_url(options.location)} {branch}" if remote else f"on {branch}"
        return AutoRevert(
            new, tuple(str(c.id) for c in reverted), remote, f"revert {new[:12]} of {shown} {where}"
        )


def _synced_branch(repo: pygit2.Repository, ref: str, location: str) -> str:
    """The branch the sync's ``ref`` names (``HEAD``: the branch it names)."""
    if ref == "HEAD":
        head = _head_ref(repo)
        if head is not None and head.startswith("refs/heads/"):
            return head.removeprefix("refs/heads/")
    else:
        name = ref.removeprefix("refs/heads/")
        if repo.references.get(f"refs/heads/{name}") is not None:
            return name
    raise RollbackError(
        f"the synced ref {ref!r} is not a branch of {safe_url(location)}: a revert needs a "
        "branch to go on (sync --ref BRANCH)"
    )


def _newest_good(
    repo: pygit2.Repository, head: pygit2.Commit, backs: list[RollbackRecord]
) -> pygit2.Commit:
    """Of the commits the targets went back to, the newest in the head's history: the
    commits after it are those every rolled-back target tried and rejected."""
    goods = []
    for back in backs:
        try:
            commit = repo[back.to_commit].peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            raise RollbackError(
                f"{back.to_commit[:12]}, which {back.target} went back to, is not in "
                f"{safe_url(repo.path)}"
            ) from None
        if commit.id == head.id or not repo.descendant_of(head.id, commit.id):
            raise RollbackError(
                f"{commit.short_id}, which {back.target} went back to, is not before "
                f"{head.short_id} in the branch's history"
            )
        goods.append(commit)
    newest = goods[0]
    for commit in goods[1:]:
        if repo.descendant_of(commit.id, newest.id):
            newest = commit
    return newest


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return " ".join(lines[0].split()) if lines else "no reason given"


def _clipped(text: str) -> str:
    line = _first_line(text)
    if len(line) <= _SUBJECT_REASON_CHARS:
        return line
    return line[: _SUBJECT_REASON_CHARS - 3].rstrip() + "..."


def _branch_head(repo: pygit2.Repository, branch: str, location: str) -> pygit2.Commit:
    found = repo.references.get(f"refs/heads/{branch}")
    if found is None:
        raise RefNotFoundError(f"branch {branch!r} not found in {safe_url(location)}")
    return repo[found.resolve().target].peel(pygit2.Commit)


def _commit_revert(
    repo: pygit2.Repository,
    branch: str,
    head: pygit2.Commit,
    tree: pygit2.Tree,
    signature: pygit2.Signature,
    message: str,
    options: SyncOptions,
    progress: Progress,
) -> str:
    """The revert commit on ``branch`` (whose tip is ``head``), the work tree following a
    checked-out branch; pushed, never forced, when the repository is a remote's clone."""
    ref = f"refs/heads/{branch}"
    try:
        new = repo.create_commit(ref, signature, signature, message, tree.id, [head.id])
    except (pygit2.GitError, ValueError) as exc:
        raise RollbackError(f"could not commit the revert on {branch}: {exc}") from None
    if not repo.is_bare and _head_ref(repo) == ref:
        repo.checkout_head(strategy=CheckoutStrategy.FORCE)  # type: ignore[no-untyped-call]
    if is_remote(options.location):
        progress(f"Pushing {str(new)[:12]} to {safe_url(options.location)} {branch}")
        push(repo, options.location, f"{ref}:{ref}", Credentials.from_env())
    return str(new)


@contextmanager
def _working_repository(
    location: str, remote: bool, progress: Progress
) -> Iterator[pygit2.Repository]:
    """The local repository in place, or a temporary bare clone of a remote one."""
    if not remote:
        repo = open_repository(Path(location))
        try:
            yield repo
        finally:
            repo.free()
        return
    with tempfile.TemporaryDirectory(prefix="meshrc-rollback-") as scratch:
        progress(f"Cloning {safe_url(location)}")
        repo = clone_for_push(location, Path(scratch) / "clone.git", Credentials.from_env())
        try:
            yield repo
        finally:
            repo.free()


def _head_ref(repo: pygit2.Repository) -> str | None:
    try:
        head = repo.references["HEAD"]
    except KeyError:
        return None
    target = head.target
    return target if isinstance(target, str) else None


def _head_branch(repo: pygit2.Repository, location: str) -> str:
    ref = _head_ref(repo)
    if ref is None or not ref.startswith("refs/heads/"):
        raise UsageError(f"HEAD of {safe_url(location)} names no branch: give --branch")
    return ref.removeprefix("refs/heads/")


def _require_clean(repo: pygit2.Repository, location: str) -> None:
    """Tracked files as committed: the revert updates the work tree of the checked-out branch."""
    changed = sorted(
        path
        for path, flags in repo.status(untracked_files="no").items()
        if flags & ~(FileStatus.CURRENT | FileStatus.IGNORED)
    )
    if changed:
        shown = ", ".join(changed[:5]) + (
            f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        )
        raise RollbackError(
            f"the work tree of {location} has uncommitted changes ({shown}): commit or stash "
            "them first"
        )


def _commit(repo: pygit2.Repository, name: str, location: str) -> pygit2.Commit:
    try:
        return repo.revparse_single(name).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        raise RefNotFoundError(f"commit {name!r} not found in {safe_url(location)}") from None


def _reaches(repo: pygit2.Repository, head: pygit2.Commit, commit: pygit2.Commit) -> bool:
    """``commit`` is ``head`` or one of its ancestors."""
    return head.id == commit.id or repo.descendant_of(head.id, commit.id)


def _current(
    repo: pygit2.Repository, head: pygit2.Commit, store: StateStore, target: str
) -> pygit2.Commit | None:
    """The commit the target runs, when the history knows it and the branch contains it:
    the commits after it (not synced yet) are kept as they are."""
    applied = store.last_applied(target)
    if applied is None:
        return None
    try:
        commit = repo[applied.commit].peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return commit if _reaches(repo, head, commit) else None


def _chosen(
    repo: pygit2.Repository,
    request: RollbackRequest,
    store: StateStore,
    head: pygit2.Commit,
    current: pygit2.Commit | None,
) -> pygit2.Commit:
    location = repo.path
    if request.to is not None:
        chosen = _commit(repo, request.to, location)
        if not _reaches(repo, head, chosen):
            raise RollbackError(f"{request.to} ({chosen.short_id}) is not in the branch's history")
    else:
        steps = request.steps or 1
        applied = [
            r.commit
            for r in store.history(request.target, _HISTORY_LIMIT)
            if r.result in (SyncResult.APPLIED, SyncResult.NO_OP)
        ]
        distinct = list(dict.fromkeys(applied))
        if len(distinct) <= steps:
            raise RollbackError(
                f"target {request.target} has {max(len(distinct) - 1, 0)} applied commit(s) "
                f"before its current one in the history, not {steps}"
            )
        chosen = _commit(repo, distinct[steps], location)
        if not _reaches(repo, head, chosen):
            raise RollbackError(
                f"{chosen.short_id}, applied to {request.target} {steps} step(s) back, is not "
                "in the branch's history"
            )
    upper = current if current is not None else head
    if chosen.id == upper.id:
        raise RollbackError(f"target {request.target} already runs {chosen.short_id}")
    if not repo.descendant_of(upper.id, chosen.id):
        raise RollbackError(
            f"{chosen.short_id} is not before {upper.short_id}, the commit target "
            f"{request.target} runs"
        )
    return chosen


def _first_parent_range(upper: pygit2.Commit, chosen: pygit2.Commit) -> list[pygit2.Commit]:
    """The commits from ``upper`` back to ``chosen`` (excluded), newest first, along first
    parents (a merge is reverted against its first parent, as ``git revert -m 1``)."""
    out: list[pygit2.Commit] = []
    commit = upper
    while commit.id != chosen.id:
        if not commit.parents:
            raise RollbackError(
                f"{chosen.short_id} is not on the first-parent history of {upper.short_id} "
                "(it came in through a merge): roll back to the merge instead"
            )
        out.append(commit)
        commit = commit.parents[0]
    return out


def _reverted_tree(
    repo: pygit2.Repository, head: pygit2.Commit, reverted: list[pygit2.Commit]
) -> pygit2.Tree:
    """The head's tree with each commit undone, newest first: a three-way merge of the tree
    so far with the commit's parent, the commit as their base (what ``git revert`` does)."""
    tree = head.tree
    for commit in reverted:
        index = repo.merge_trees(commit.tree, tree, commit.parents[0].tree)
        if index.conflicts is not None:
            paths = sorted(
                {entry.path for sides in index.conflicts for entry in sides if entry is not None}
            )
            raise RollbackError(
                f"reverting {commit.short_id} ({_subject(commit)}) "
                f"conflicts in {', '.join(paths)}: later commits changed the same lines; "
                "nothing was committed (revert by hand, or roll back less far)"
            )
        tree = repo[index.write_tree(repo)].peel(pygit2.Tree)
    return tree


def parse_author(author: str | None, option: str) -> pygit2.Signature | None:
    """``Name <email>`` as a signature (None for None); a UsageError naming ``option``."""
    if author is None:
        return None
    match = AUTHOR_RE.match(author)
    if not match:
        raise UsageError(f"{option} must be 'Name <email>', not {author!r}")
    return pygit2.Signature(match["name"], match["email"])


def _default_signature(repo: pygit2.Repository) -> pygit2.Signature:
    """git config's user, else ``meshrc <meshrc@localhost>``."""
    try:
        return repo.default_signature
    except (KeyError, pygit2.GitError):
        return pygit2.Signature(DEFAULT_NAME, DEFAULT_EMAIL)


def _subject(commit: pygit2.Commit) -> str:
    lines = commit.message.strip().splitlines()
    return lines[0] if lines else "no message"
