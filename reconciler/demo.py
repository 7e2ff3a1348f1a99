"""``meshrc demo``: the whole idea in a minute, on a machine with no cluster.

A Git repository is made from the starter repository; meshrc syncs it to a real Envoy (the
sidecar of namespace bookinfo) with a loopback stand-in for every service and subset, and
real requests show the split. Then routing changes by commits, as a team would change it: a
new split, its revert, and a change that fails the checks and is blocked. Every step is
observed, not assumed: the demo fails when something does not happen as it says.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pygit2
import yaml

from reconciler.errors import MeshrcError
from reconciler.processes import free_port_offset
from reconciler.snapshots import read_state
from reconciler.source.trees import FolderTree
from reconciler.state import SyncResult, open_store
from reconciler.syncing import Outcome, SyncOptions, sync
from reconciler.targets.envoy import EnvoyFolder
from reconciler.verify.client import send_many
from reconciler.verify.envoy import EnvoyProcess
from reconciler.verify.running import stand_ins

TEMPLATE = Path(__file__).resolve().parent / "repo-template"
NAMESPACE = "bookinfo"
REVIEWS = "reviews.bookinfo.svc.cluster.local"
REQUESTS = 1000
TOLERANCE = 7.0
SIGNATURE = pygit2.Signature("meshrc demo", "demo@meshrc.invalid")

Say = Callable[[str], None]


class DemoFailed(MeshrcError):
    """A step of the demo did not happen as it should."""


@dataclass
class Demo:
    directory: Path
    say: Say
    offset: int = 0

    @property
    def repository(self) -> Path:
        return self.directory / "repo"

    def run(self) -> None:
        self.say("meshrc demo: Istio routing from Git to a real Envoy, checked, with no cluster")
        self.offset = free_port_offset([80, 443, 9080])
        repo = self._create_repository()
        self.say(f"1. A Git repository from the starter repository: {self.repository}")
        state = read_state(FolderTree(self.repository), None, NAMESPACE)
        with stand_ins(state.snapshot, NAMESPACE) as (upstreams, _table):
            endpoints = self.directory / "endpoints.yaml"
            lines = {u.name: [f"127.0.0.1:{u.port}"] for u in upstreams}
            endpoints.write_text(yaml.safe_dump(lines, sort_keys=True), encoding="utf-8")
            self.say(
                f"   {len(upstreams)} stand-ins for the mesh's services and subsets on 127.0.0.1"
            )
            with open_store(None, self.directory / "state") as store:

                def sync_now(admin: str | None) -> Outcome:
                    options = SyncOptions(
                        location=str(self.repository),
                        state_dir=self.directory / "state",
                        endpoints=endpoints,
                        admin_url=admin,
                        cache_dir=self.directory / "cache",
                    )
                    (outcome,) = sync(options, store, lambda _message: None)
                    short = outcome.commit[:12]
                    self.say(f"   meshrc sync {short} -> {outcome.target}: {outcome.detail}")
                    return outcome

                expect(sync_now(None).result == SyncResult.APPLIED, "the first sync applies")
                folder = EnvoyFolder(self.directory / "state" / "envoy" / "local")
                config = yaml.safe_load(folder.bootstrap.read_text(encoding="utf-8"))
                with EnvoyProcess(config) as envoy:
                    self.say(f"2. A real Envoy reads {folder.directory} (admin {envoy.admin_url})")
                    self.observe({"v1": 80, "v3": 20})

                    first = str(repo.head.target)

                    def step(title: str, result: SyncResult, split: dict[str, int]) -> None:
                        self.say(title)
                        outcome = sync_now(envoy.admin_url)
                        expect(outcome.result == result, f"{title.strip()}: {result.value}")
                        comment = (
                            ""
                            if result == SyncResult.APPLIED
                            else "unchanged: the last good commit"
                        )
                        self.observe(split, comment)

                    self.commit(repo, "reviews: split 50/50", {"80": "50", "20": "50"})
                    step(
                        "3. Commit: reviews 80/20 -> 50/50",
                        SyncResult.APPLIED,
                        {"v1": 50, "v3": 50},
                    )
                    self.revert_to(repo, first, 'Revert "reviews: split 50/50"')
                    step("4. Revert that commit", SyncResult.APPLIED, {"v1": 80, "v3": 20})
                    self.commit(repo, "reviews: 50/40 (a mistake)", {"80": "50", "20": "40"})
                    step(
                        "5. Commit: weights that add up to 90",
                        SyncResult.BLOCKED,
                        {"v1": 80, "v3": 20},
                    )
                history = store.history(limit=10)
        self.say("6. meshrc history:")
        for record in reversed(history):
            result = f"{record.result.value:<8}"
            self.say(f"   {record.target}  {result} {record.commit[:12]}  {record.message}")

    def observe(self, split: dict[str, int], comment: str = "") -> None:
        answers = send_many(9080 + self.offset, REQUESTS, 4, authority="reviews")
        seen = Counter(
            (a.upstream or f"Envoy {a.status}").removeprefix(f"{REVIEWS}/") for a in answers
        )
        shares = {name: 100 * count / REQUESTS for name, count in sorted(seen.items())}
        shown = ", ".join(f"{name} {share:.1f}%" for name, share in shares.items())
        self.say(
            f"   traffic to reviews ({REQUESTS} requests): {shown}"
            + (f" — {comment}" if comment else "")
        )
        wrong = [
            name for name in {*split, *shares}
            if abs(shares.get(name, 0.0) - split.get(name, 0)) > TOLERANCE
        ]  # fmt: skip
        expect(not wrong, f"traffic should split {split}, it split {shown}")

    def commit(self, repo: pygit2.Repository, message: str, replace: dict[str, str]) -> None:
        """Commit reviews.yaml with its weights changed (``{"80": "50"}``)."""
        path = self.repository / "mesh" / "reviews.yaml"
        text = path.read_text(encoding="utf-8")
        for old, new in replace.items():
            text = text.replace(f"weight: {old}", f"weight: {new}")
        path.write_text(text, encoding="utf-8")
        _commit_worktree(repo, message)

    def revert_to(self, repo: pygit2.Repository, commit: str, message: str) -> None:
        """A commit whose tree is that of ``commit``: what ``git revert`` of the commits
        after it gives; the work tree follows."""
        tree = repo.revparse_single(commit).peel(pygit2.Tree)
        repo.checkout_tree(tree, strategy=pygit2.enums.CheckoutStrategy.FORCE)  # type: ignore[no-untyped-call]
        repo.index.read_tree(tree)
        repo.index.write()
        repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree.id, [repo.head.target])

    def _create_repository(self) -> pygit2.Repository:
        shutil.copytree(TEMPLATE, self.repository)
        config = self.repository / "meshrc.yaml"
        target = {
            "targets": [
                {
                    "name": "local",
                    "type": "envoy",
                    "proxy": "mesh",
                    "namespace": NAMESPACE,
                    "portOffset": self.offset,
                }
            ]
        }
        config.write_text(
            config.read_text(encoding="utf-8")
            + "\n# Added by meshrc demo: a local Envoy.\n"
            + yaml.safe_dump(target, sort_keys=False),
            encoding="utf-8",
        )
        repo = pygit2.init_repository(str(self.repository), initial_head="main")
        _commit_worktree(repo, "bookinfo mesh from the starter repository")
        return repo


def _commit_worktree(repo: pygit2.Repository, message: str) -> None:
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    parents = [] if repo.head_is_unborn else [repo.head.target]
    repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, parents)


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailed(f"demo step failed: {what}")


@contextmanager
def workspace(directory: Path | None, keep: bool) -> Iterator[Path]:
    """``directory``, or a temporary folder removed afterwards unless ``keep``."""
    import tempfile

    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise MeshrcError(f"--dir {directory} is not empty")
        yield directory
        return
    folder = Path(tempfile.mkdtemp(prefix="meshrc-demo-"))
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
