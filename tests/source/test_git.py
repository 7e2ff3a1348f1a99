"""The Git source against real repositories: in place, file://, git daemon, smart HTTP and ssh.

Every server runs on 127.0.0.1 (fixtures in conftest.py). Secrets are checked where a user would
see them: exception text, logs, object reprs and the cache directory on disk.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import CheckoutStrategy, FileMode

from reconciler.errors import RefNotFoundError, RepositoryError, SourceError, UsageError
from reconciler.source.git import (
    Credentials,
    GitFile,
    GitSource,
    _scrub,
    is_remote,
    open_source,
    safe_url,
)

from .conftest import LOCKED_KEY_PASSPHRASE, HTTPServed, Served, SSHServed, bare_repo, commit, tag

V1_FILES: dict[str, bytes | tuple[FileMode, bytes]] = {
    "README.md": b"# mesh\n",
    "mesh/reviews.yaml": b"kind: VirtualService\n",
    "mesh/old.yaml": b"kind: DestinationRule\n",
    "mesh/ratings/vs.yaml": b"kind: VirtualService # ratings\n",
    "mesh/link.yaml": (FileMode.LINK, b"reviews.yaml"),
    "vendor/istio": (FileMode.COMMIT, b"1" * 40),
    "tools/run.sh": (FileMode.BLOB_EXECUTABLE, b"#!/bin/sh\n"),
}
V2_FILES: dict[str, bytes | tuple[FileMode, bytes]] = {
    "README.md": b"# mesh v2\n",
    "mesh/reviews.yaml": b"kind: VirtualService\n",
    "mesh/renamed.yaml": b"kind: DestinationRule\n",
    "mesh/ratings/vs.yaml": b"kind: VirtualService # ratings\n",
    "mesh/new.yaml": b"kind: Gateway\n",
}


def blob_hash(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def work_tree_snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and ".git" not in p.relative_to(root).parts
    }


def files_in(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


def assert_secret_absent(secret: str, *texts: str, cache: Path | None = None) -> None:
    for text in texts:
        assert secret not in text
    if cache is not None:
        assert secret not in str(cache)
        for path in files_in(cache):
            assert secret not in str(path)
            assert secret.encode() not in path.read_bytes(), path


@pytest.fixture
def local_repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A work-tree repository: v1 then v2 on main (tagged), a feature branch, checked out at v2."""
    path = tmp_path / "work"
    repo = pygit2.init_repository(str(path), initial_head="main")
    ids = {"v1": commit(repo, V1_FILES, "first layout\n\nlong body")}
    ids["v2"] = commit(repo, V2_FILES, "second layout")
    ids["feature"] = commit(repo, {**V2_FILES, "mesh/f.yaml": b"x: 1\n"}, "f", branch="feature")
    tag(repo, "v1.0", ids["v1"], "release 1.0")
    tag(repo, "light", ids["v2"])
    repo.checkout("refs/heads/main", strategy=CheckoutStrategy.FORCE)
    return path, ids


# --------------------------------------------------------------------------- local, in place


def test_local_repository_resolves_every_kind_of_ref(
    local_repo: tuple[Path, dict[str, str]],
) -> None:
    path, ids = local_repo
    with open_source(path) as source:
        assert not source.is_mirror and source.path == path / ".git"
        assert source.resolve("main") == ids["v2"]
        assert source.resolve("HEAD") == ids["v2"]
        assert source.resolve("feature") == ids["feature"]
        assert source.resolve("refs/heads/feature") == ids["feature"]
        assert source.resolve("v1.0") == ids["v1"]  # annotated tag peeled to its commit
        assert source.resolve("refs/tags/v1.0") == ids["v1"]
        assert source.resolve("tags/v1.0") == ids["v1"]
        assert source.resolve("light") == ids["v2"]
        assert source.resolve(ids["v1"]) == ids["v1"]
        assert source.resolve(ids["v1"][:7]) == ids["v1"]
        assert source.resolve(ids["v1"][:7].upper()) == ids["v1"]
        assert source.resolve("main~1") == source.resolve("HEAD^") == ids["v1"]
        assert source.resolve("v1.0^{commit}") == ids["v1"]


@pytest.mark.parametrize(
    "ref", ["nope", "refs/heads/nope", "nope~1", "main~99", "", " main", "00000", "0" * 40]
)
def test_unknown_ref_is_ref_not_found(local_repo: tuple[Path, dict[str, str]], ref: str) -> None:
    path, _ = local_repo
    source = open_source(path)
    with pytest.raises(RefNotFoundError) as caught:
        source.resolve(ref)
    assert str(caught.value) == f"ref {ref!r} not found in {path}"


def test_ref_to_something_else_than_a_commit(local_repo: tuple[Path, dict[str, str]]) -> None:
    path, ids = local_repo
    source = open_source(path)
    with pytest.raises(RefNotFoundError, match="does not point to a commit"):
        source.resolve("v1.0^{tree}")
    readme = source.files(ids["v1"])[0].blob_id
    with pytest.raises(
        RefNotFoundError, match=f"ref '{readme[:8]}' in .* does not point to a commit"
    ):
        source.resolve(readme[:8])


def test_files_of_an_older_commit_without_checkout(local_repo: tuple[Path, dict[str, str]]) -> None:
    path, _ = local_repo
    before = work_tree_snapshot(path)
    source = open_source(path)

    files = source.files(source.resolve("v1.0"))

    assert [f.path for f in files] == [
        "README.md",
        "mesh/old.yaml",
        "mesh/ratings/vs.yaml",
        "mesh/reviews.yaml",
        "tools/run.sh",
    ]  # sorted; the symlink and the submodule are not files of this repository
    by_path = {f.path: f for f in files}
    data = V1_FILES["mesh/old.yaml"]
    assert isinstance(data, bytes)
    assert by_path["mesh/old.yaml"] == GitFile("mesh/old.yaml", blob_hash(data), len(data))
    for f in files:
        assert len(source.read(f.blob_id)) == f.size
    assert source.read(by_path["README.md"].blob_id) == b"# mesh\n"
    # the work tree still holds v2, untouched
    assert work_tree_snapshot(path) == before
    assert (path / "README.md").read_bytes() == b"# mesh v2\n"
    assert not (path / "mesh" / "old.yaml").exists()
    assert pygit2.Repository(str(path)).status() == {}


def test_subdir_filter(local_repo: tuple[Path, dict[str, str]]) -> None:
    path, ids = local_repo
    source = open_source(path)
    expected = ["mesh/old.yaml", "mesh/ratings/vs.yaml", "mesh/reviews.yaml"]
    for subdir in ("mesh", "mesh/", "./mesh", "mesh//"):
        assert [f.path for f in source.files(ids["v1"], subdir)] == expected
    assert [f.path for f in source.files(ids["v1"], "mesh/ratings")] == ["mesh/ratings/vs.yaml"]
    assert len(source.files(ids["v1"], "")) == len(source.files(ids["v1"]))
    for missing in ("nope", "mesh/nope", "README.md", "vendor/istio"):
        with pytest.raises(SourceError, match=f"directory '{missing}' not found at commit"):
            source.files(ids["v1"], missing)
    with pytest.raises(SourceError, match="relative to the repository root"):
        source.files(ids["v1"], "../outside")


def test_changed_files_between_commits(local_repo: tuple[Path, dict[str, str]]) -> None:
    path, ids = local_repo
    source = open_source(path)
    assert source.changed_files(ids["v1"], ids["v2"]) == [
        "README.md",  # modified
        "mesh/link.yaml",  # deleted symlink
        "mesh/new.yaml",  # added
        "mesh/old.yaml",  # renamed from ...
        "mesh/renamed.yaml",  # ... to
        "tools/run.sh",  # deleted
        "vendor/istio",  # deleted submodule
    ]
    assert source.changed_files(ids["v2"], ids["feature"]) == ["mesh/f.yaml"]
    assert source.changed_files(ids["v2"], ids["v2"]) == []
    with pytest.raises(RefNotFoundError, match="commit 'feedbeef' not found"):
        source.changed_files("feedbeef", ids["v2"])


def test_commit_info(local_repo: tuple[Path, dict[str, str]]) -> None:
    path, ids = local_repo
    info = open_source(path).commit_info(ids["v1"])
    assert info.id == ids["v1"] and ids["v1"].startswith(info.short_id)
    assert (info.author_name, info.author_email) == ("Dev Eloper", "dev@example.com")
    assert info.summary == "first layout"
    assert info.time.utcoffset() == timedelta(hours=2)


def test_bare_repository_opened_in_place(tmp_path: Path) -> None:
    repo = bare_repo(tmp_path / "bare.git")
    first = commit(repo, {"a.yaml": b"a: 1\n"}, "one")
    source = open_source(tmp_path / "bare.git", tmp_path / "cache")
    assert source.resolve("HEAD") == first
    assert not (tmp_path / "cache").exists()  # nothing cloned


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match=r"no repository at .*does not exist"):
        open_source(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RepositoryError, match="no repository at"):
        open_source(tmp_path / "plain")
    with pytest.raises(UsageError, match="cache directory"):
        open_source("https://example.invalid/repo.git")


def test_remote_tracking_branches_of_a_clone(tmp_path: Path) -> None:
    upstream = bare_repo(tmp_path / "up.git")
    main = commit(upstream, {"a": b"a"}, "one")
    feature = commit(upstream, {"a": b"b"}, "two", branch="feature")
    pygit2.clone_repository(f"file://{tmp_path / 'up.git'}", str(tmp_path / "clone"))
    source = open_source(tmp_path / "clone")  # in place: only main is a local branch
    assert source.resolve("main") == main
    assert source.resolve("feature") == feature  # from refs/remotes/origin/feature
    assert source.resolve("origin/feature") == feature
    assert source.resolve("origin") == main  # refs/remotes/origin/HEAD, as git reads it


def test_file_url_to_nothing(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'absent.git'}"
    with pytest.raises(RepositoryError, match=f"could not clone {url}: ") as caught:
        open_source(url, tmp_path / "cache")
    assert "unreachable" not in str(caught.value)


def test_empty_repository_has_no_refs(tmp_path: Path) -> None:
    bare_repo(tmp_path / "empty.git")
    source = open_source(tmp_path / "empty.git")
    with pytest.raises(RefNotFoundError, match="ref 'HEAD' not found"):
        source.resolve("HEAD")


# --------------------------------------------------------------------------- mirrors


def _check_mirror_cycle(
    served: Served, cache: Path, credentials: Credentials | None = None
) -> GitSource:
    """Clone, use the cache, see a new commit, a new tag and a deleted branch (pruned)."""
    upstream = served.repo("mesh.git")
    first = commit(upstream, V2_FILES, "first")
    commit(upstream, {"x.yaml": b"x\n"}, "old branch", branch="old")
    url = served.url("mesh.git")

    source = open_source(url, cache, credentials)
    assert source.cloned and source.is_mirror
    assert source.path.parent == cache
    assert source.path.name == hashlib.sha256(safe_url(url).encode()).hexdigest()
    assert source.resolve("main") == source.resolve("HEAD") == first
    assert source.resolve("old")
    assert source.read(source.files(first, "mesh")[0].blob_id) == b"kind: Gateway\n"
    (source.path / "meshrc-marker").write_text("kept")
    source.close()

    second = commit(upstream, {**V2_FILES, "mesh/z.yaml": b"z\n"}, "second")
    tag(upstream, "v2", second, "annotated")
    upstream.references.delete("refs/heads/old")

    again = open_source(url, cache, credentials)
    assert not again.cloned and again.path == source.path
    assert (again.path / "meshrc-marker").read_text() == "kept"  # the same clone, fetched
    assert again.resolve("main") == again.resolve("v2") == second
    assert again.changed_files(first, second) == ["mesh/z.yaml"]
    with pytest.raises(RefNotFoundError):
        again.resolve("old")  # pruned
    third = commit(upstream, V2_FILES, "third")
    again.fetch()
    assert again.resolve("main") == third
    assert [p.name for p in cache.iterdir()] == [source.path.name]  # no staging left behind
    return again


def test_file_url_mirror(tmp_path: Path) -> None:
    served = Served(tmp_path / "served", f"file://{tmp_path / 'served'}")
    served.root.mkdir()
    _check_mirror_cycle(served, tmp_path / "cache")


def test_mirror_head_follows_the_servers_default_branch(tmp_path: Path) -> None:
    upstream = bare_repo(tmp_path / "trunk.git", default_branch="trunk")
    trunk = commit(upstream, {"a": b"a"}, "t", branch="trunk")
    commit(upstream, {"b": b"b"}, "m", branch="main")
    source = open_source(f"file://{tmp_path / 'trunk.git'}", tmp_path / "cache")
    assert source.resolve("HEAD") == trunk


def test_damaged_cache_is_cloned_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    upstream = bare_repo(tmp_path / "up.git")
    first = commit(upstream, {"a": b"a"}, "one")
    url = f"file://{tmp_path / 'up.git'}"
    path = open_source(url, tmp_path / "cache").path
    (path / "HEAD").unlink()
    (path / "config").write_text("garbage [")
    with caplog.at_level(logging.WARNING):
        source = open_source(url, tmp_path / "cache")
    assert source.cloned and source.resolve("main") == first
    assert "not a usable mirror" in caplog.text


@pytest.mark.gitserver
def test_git_daemon_clone_fetch_and_cache(git_daemon: Served, tmp_path: Path) -> None:
    _check_mirror_cycle(git_daemon, tmp_path / "cache")


@pytest.mark.gitserver
def test_git_daemon_missing_repository(git_daemon: Served, tmp_path: Path) -> None:
    url = git_daemon.url("absent.git")
    with pytest.raises(RepositoryError, match=f"could not clone {url}: "):
        open_source(url, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


# --------------------------------------------------------------------------- smart HTTP


@pytest.mark.gitserver
def test_http_clone_with_token(
    http_git: HTTPServed, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    with caplog.at_level(logging.DEBUG):
        source = _check_mirror_cycle(http_git, cache, Credentials(token=http_git.token))
    assert any(authorized for _, _, authorized in http_git.requests)
    assert_secret_absent(http_git.token, repr(source), caplog.text, cache=cache)


@pytest.mark.gitserver
def test_http_token_in_url_is_used_but_never_stored(
    http_git: HTTPServed, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    http_git.repo("mesh.git")
    first = commit(http_git.repo("mesh.git"), {"a.yaml": b"a\n"}, "one")
    secret_url = http_git.url("mesh.git").replace("://", f"://x-access-token:{http_git.token}@")
    cache = tmp_path / "cache"
    with caplog.at_level(logging.DEBUG):
        source = open_source(secret_url, cache)
    assert source.resolve("main") == first
    assert source.location == http_git.url("mesh.git")
    assert_secret_absent(http_git.token, repr(source), source.location, caplog.text, cache=cache)


@pytest.mark.gitserver
def test_http_bad_token(
    http_git: HTTPServed, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    commit(http_git.repo("mesh.git"), {"a.yaml": b"a\n"}, "one")
    url = http_git.url("mesh.git")
    wrong = "ghp_wrongTOKEN0123456789abcdef"
    cache = tmp_path / "cache"
    with caplog.at_level(logging.DEBUG), pytest.raises(RepositoryError) as caught:
        open_source(url, cache, Credentials(token=wrong))
    message = str(caught.value)
    assert message == (f"could not clone {url}: authentication failed (check MESHRC_GIT_TOKEN)")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert_secret_absent(wrong, message, repr(caught.value), caplog.text, cache=cache)
    assert_secret_absent(http_git.token, message, caplog.text, cache=cache)
    assert list(cache.iterdir()) == []  # a failed clone leaves nothing behind


@pytest.mark.gitserver
def test_http_bad_password_in_url(http_git: HTTPServed, tmp_path: Path) -> None:
    commit(http_git.repo("mesh.git"), {"a.yaml": b"a\n"}, "one")
    url = http_git.url("mesh.git").replace("://", "://alice:pa%40ss-w0rd-9@")
    with pytest.raises(RepositoryError) as caught:
        open_source(url, tmp_path / "cache")
    assert "authentication failed" in str(caught.value)
    assert_secret_absent("pa@ss-w0rd-9", str(caught.value), cache=tmp_path / "cache")
    assert_secret_absent("pa%40ss-w0rd-9", str(caught.value))
    assert "alice" not in str(caught.value)


@pytest.mark.gitserver
def test_http_without_credentials(http_git: HTTPServed, tmp_path: Path) -> None:
    commit(http_git.repo("mesh.git"), {"a.yaml": b"a\n"}, "one")
    with pytest.raises(RepositoryError, match=r"authentication required \(set MESHRC_GIT_TOKEN"):
        open_source(http_git.url("mesh.git"), tmp_path / "cache")


def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/mesh.git"
        started = time.monotonic()
        with pytest.raises(RepositoryError) as caught:
            open_source(url, tmp_path / "cache", Credentials(token="tok-unreachable-1"))
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith(f"could not clone {url}: server unreachable")
    assert "tok-unreachable-1" not in message


def test_silent_server_times_out(tmp_path: Path) -> None:
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/mesh.git"
        started = time.monotonic()
        with pytest.raises(RepositoryError, match=r"did not answer within 0\.5 s"):
            open_source(url, tmp_path / "cache", timeout=0.5)
        assert time.monotonic() - started < 5


# --------------------------------------------------------------------------- ssh


@pytest.mark.gitserver
def test_ssh_clone_with_key(ssh_git: SSHServed, tmp_path: Path) -> None:
    ssh_git.trust_host()
    first = commit(ssh_git.repo("mesh.git"), V2_FILES, "one")
    source = open_source(ssh_git.url("mesh.git"), tmp_path / "cache", _key(ssh_git))
    assert source.resolve("main") == first
    assert source.location == ssh_git.url("mesh.git")  # the ssh user stays: it names the account


@pytest.mark.gitserver
def test_ssh_unknown_host_key_is_refused(ssh_git: SSHServed, tmp_path: Path) -> None:
    commit(ssh_git.repo("mesh.git"), V2_FILES, "one")
    with pytest.raises(RepositoryError, match=r"ssh host key of 127\.0\.0\.1 is unknown"):
        open_source(ssh_git.url("mesh.git"), tmp_path / "cache", _key(ssh_git))


@pytest.mark.gitserver
def test_ssh_wrong_key(ssh_git: SSHServed, tmp_path: Path) -> None:
    from .conftest import keygen

    ssh_git.trust_host()
    commit(ssh_git.repo("mesh.git"), V2_FILES, "one")
    other = keygen(tmp_path / "other", passphrase="pass-phrase-77")
    creds = Credentials(ssh_key=other, ssh_passphrase="pass-phrase-77")
    with pytest.raises(RepositoryError) as caught:
        open_source(ssh_git.url("mesh.git"), tmp_path / "cache", creds)
    assert "authentication failed (check MESHRC_GIT_SSH_KEY)" in str(caught.value)
    assert "pass-phrase-77" not in str(caught.value)


@pytest.mark.gitserver
def test_ssh_key_with_passphrase(
    ssh_git: SSHServed, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ssh_git.trust_host()
    first = commit(ssh_git.repo("mesh.git"), V2_FILES, "one")
    creds = Credentials(ssh_key=ssh_git.locked_key, ssh_passphrase=LOCKED_KEY_PASSPHRASE)
    with caplog.at_level(logging.DEBUG):
        source = open_source(ssh_git.url("mesh.git"), tmp_path / "cache", creds)
    assert source.resolve("HEAD") == first
    assert_secret_absent(LOCKED_KEY_PASSPHRASE, repr(source), repr(creds), caplog.text)
    missing = Credentials(ssh_key=tmp_path / "no-such-key")
    with pytest.raises(RepositoryError, match="no-such-key is not a readable file"):
        open_source(ssh_git.url("mesh.git"), tmp_path / "cache2", missing)


def _key(served: SSHServed) -> Credentials:
    return Credentials(ssh_key=served.client_key)


# --------------------------------------------------------------------------- credentials, URLs


def test_credentials_from_env(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-from-file\n")
    env = {
        "MESHRC_GIT_TOKEN_FILE": str(tmp_path / "token"),
        "MESHRC_GIT_USERNAME": "bot",
        "MESHRC_GIT_PASSWORD": "hunter2-pw",
        "MESHRC_GIT_SSH_KEY": str(tmp_path / "id"),
        "MESHRC_GIT_SSH_PASSPHRASE": "phrase-xyz",
    }
    creds = Credentials.from_env(env)
    assert creds == Credentials(
        token="tok-from-file",
        username="bot",
        password="hunter2-pw",
        ssh_key=tmp_path / "id",
        ssh_passphrase="phrase-xyz",
    )
    for secret in ("tok-from-file", "hunter2-pw", "phrase-xyz"):
        assert secret not in repr(creds) and secret not in str(creds)
    assert "token=<set>" in repr(creds) and "username='bot'" in repr(creds)
    assert Credentials.from_env({}).is_empty
    assert Credentials.from_env({"MESHRC_GIT_TOKEN": ""}) == Credentials()


def test_credentials_from_env_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="MESHRC_GIT_TOKEN or MESHRC_GIT_TOKEN_FILE, not both"):
        Credentials.from_env({"MESHRC_GIT_TOKEN": "a", "MESHRC_GIT_TOKEN_FILE": "b"})
    missing = tmp_path / "nope"
    with pytest.raises(UsageError, match=f"could not read MESHRC_GIT_PASSWORD_FILE {missing}"):
        Credentials.from_env({"MESHRC_GIT_PASSWORD_FILE": str(missing)})


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://x-access-token:s3cret@host/o/r.git", "https://host/o/r.git"),
        ("https://s3cret@host:8443/r.git", "https://host:8443/r.git"),
        ("http://host/r.git", "http://host/r.git"),
        ("ssh://git:s3cret@host:22/r.git", "ssh://git@host:22/r.git"),
        ("ssh://git@host/r.git", "ssh://git@host/r.git"),
        ("git@github.com:org/r.git", "git@github.com:org/r.git"),
        ("git://host/r.git", "git://host/r.git"),
    ],
)
def test_safe_url(url: str, safe: str) -> None:
    assert safe_url(url) == safe


def test_scrub_and_is_remote(tmp_path: Path) -> None:
    text = "fetch https://bob:s3cret@h/r failed; token s3cret; quoted a%2Fb; ssh://git:pw1@h/x"
    assert _scrub(text, ["s3cret", "a/b", "pw1"]) == (
        "fetch https://h/r failed; token ***; quoted ***; ssh://git@h/x"
    )
    assert is_remote("git@github.com:org/repo.git") and is_remote("file:///x")
    assert not is_remote(str(tmp_path)) and not is_remote("relative/dir")


def test_reprs_hide_secrets(local_repo: tuple[Path, dict[str, str]]) -> None:
    path, _ = local_repo
    creds = Credentials(token="tok-123456", password="pw-654321", ssh_passphrase="pp-000")
    source = GitSource(pygit2.Repository(str(path)), str(path), credentials=creds)
    for text in (repr(source), str(source), repr(creds), f"{creds}"):
        assert "tok-123456" not in text and "pw-654321" not in text and "pp-000" not in text
