"""Read desired state out of Git without a checkout.

A local repository is read in place; a remote one is mirrored (bare) into a cache directory keyed
by its URL, cloned once and fetched afterwards, so repeated checks cost one incremental fetch.
Everything is read from Git objects (trees and blobs), never from a work tree, so a check of an
old commit cannot disturb anyone's files.

Credentials reach libgit2 only through callbacks: a URL written to disk, logged, hashed into the
cache key or put in a message never carries a user:password part, and every error message is
scrubbed of the secrets in use before it leaves this module.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import NoReturn

import pygit2
from pygit2.enums import CredentialType, FetchPrune, FileMode, RepositoryOpenFlag

from reconciler.errors import RefNotFoundError, RepositoryError, SourceError, UsageError

__all__ = [
    "CommitInfo",
    "Credentials",
    "GitFile",
    "GitSource",
    "clone_for_push",
    "is_remote",
    "open_source",
    "push",
    "reverted_commits",
    "safe_url",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for a server to connect or answer before giving up (libgit2 settings)."""

# Branches and tags only: a full ``+refs/*:refs/*`` mirror would also drag in every pull-request
# ref a forge publishes, which a reconciler never reads.
_FETCH_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
_REMOTE = "origin"
_HEX_RE = re.compile(r"[0-9a-fA-F]{4,40}")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# git's scp-like syntax: [user@]host:path, with no slash before the first colon.
_SCP_RE = re.compile(r"^(?:[^@/\s]+@)?[^:/\s]+:(?!//)")
_URL_IN_TEXT_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]*)@")
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})
_REVERTS_RE = re.compile(r"^This reverts commit ([0-9a-fA-F]{7,64})\b", re.MULTILINE)


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True, repr=False)
class Credentials:
    """How to authenticate to a Git server; ``repr`` only tells which secrets are set.

    A token is sent over HTTP(S) as basic auth with user ``x-access-token`` (or ``username``),
    which is how GitHub, GitLab and Gitea accept tokens. ``ssh_key`` is a private key file;
    its public half defaults to ``<key>.pub`` when that file exists.
    """

    token: str | None = None
    username: str | None = None
    password: str | None = None
    ssh_key: Path | None = None
    ssh_public_key: Path | None = None
    ssh_passphrase: str | None = None

    def __repr__(self) -> str:
        shown = [f"username={self.username!r}"] if self.username else []
        shown += [f"{name}=<set>" for name in ("token", "password") if getattr(self, name)]
        if self.ssh_key:
            shown.append(f"ssh_key={str(self.ssh_key)!r}")
        if self.ssh_passphrase:
            shown.append("ssh_passphrase=<set>")
        return f"Credentials({', '.join(shown)})"

    __str__ = __repr__

    @property
    def secrets(self) -> tuple[str, ...]:
        """The strings that must never appear in a message or a log."""
        return tuple(s for s in (self.token, self.password, self.ssh_passphrase) if s)

    @property
    def is_empty(self) -> bool:
        return not (self.token or self.username or self.password or self.ssh_key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read ``MESHRC_GIT_*``; each secret may come from a file named by ``<VAR>_FILE``."""
        env = os.environ if environ is None else environ
        key = env.get("MESHRC_GIT_SSH_KEY") or None
        public = env.get("MESHRC_GIT_SSH_PUBLIC_KEY") or None
        return cls(
            token=_secret_from_env(env, "MESHRC_GIT_TOKEN"),
            username=env.get("MESHRC_GIT_USERNAME") or None,
            password=_secret_from_env(env, "MESHRC_GIT_PASSWORD"),
            ssh_key=Path(key).expanduser() if key else None,
            ssh_public_key=Path(public).expanduser() if public else None,
            ssh_passphrase=_secret_from_env(env, "MESHRC_GIT_SSH_PASSPHRASE"),
        )

    def _hint(self, ssh: bool) -> str:
        """Which setting to look at after the server refused us."""
        if ssh:
            return "check MESHRC_GIT_SSH_KEY" if self.ssh_key else "set MESHRC_GIT_SSH_KEY"
        if self.token:
            return "check MESHRC_GIT_TOKEN"
        if self.password:
            return "check MESHRC_GIT_USERNAME and MESHRC_GIT_PASSWORD"
        return "set MESHRC_GIT_TOKEN, or MESHRC_GIT_USERNAME and MESHRC_GIT_PASSWORD"


def _secret_from_env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name) or None
    file = env.get(f"{name}_FILE") or None
    if value and file:
        raise UsageError(f"set {name} or {name}_FILE, not both")
    if file is None:
        return value
    try:
        return Path(file).expanduser().read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"could not read {name}_FILE {file}: {reason}") from None


# --------------------------------------------------------------------------- URLs and scrubbing


def is_remote(url_or_path: str) -> bool:
    """True for a URL or scp-like ``user@host:path`` that is not an existing local path."""
    if _SCHEME_RE.match(url_or_path):
        return True
    return bool(_SCP_RE.match(url_or_path)) and not os.path.exists(url_or_path)


def _split_url(url: str) -> tuple[str, str | None, str | None]:
    """(URL safe to show, user, password); ssh keeps its user, which names the account."""
    if not _SCHEME_RE.match(url):
        return url, None, None  # scp-like: user@host:path has no place for a password
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, sep, password = userinfo.partition(":")
    user_u = urllib.parse.unquote(user) or None
    password_u = urllib.parse.unquote(password) if sep else None
    if parts.scheme.lower() in _SSH_SCHEMES and user:
        host = f"{user}@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), user_u, password_u


def safe_url(url: str) -> str:
    """The URL without any secret in it: fit for messages, logs and the cache key."""
    return _split_url(url)[0]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove URL passwords (any user part for HTTP) and the given secrets from ``text``."""

    def strip_userinfo(match: re.Match[str]) -> str:
        scheme, userinfo = match["scheme"], match["userinfo"]
        if scheme[:-3].lower() in _SSH_SCHEMES:
            user = userinfo.partition(":")[0]
            return f"{scheme}{user}@" if user else scheme
        return scheme

    text = _URL_IN_TEXT_RE.sub(strip_userinfo, text)
    for secret in sorted(set(secrets), key=len, reverse=True):
        for form in {secret, urllib.parse.quote(secret, safe="")}:
            text = text.replace(form, "***")
    return text


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class GitFile:
    """A regular file in a commit's tree: ``path`` is posix and relative to the repository root."""

    path: str
    blob_id: str
    size: int


@dataclass(frozen=True)
class CommitInfo:
    """What a report says about the commit it checked."""

    id: str
    short_id: str
    author_name: str
    author_email: str
    time: datetime
    summary: str
    reverts: tuple[str, ...] = ()
    """The commits a revert names (``This reverts commit <sha>.``), when it is one."""


def reverted_commits(message: str) -> tuple[str, ...]:
    """The commits a revert's message names, as ``git revert`` writes them; none unless its
    subject starts with ``Revert``."""
    if not message.lstrip().startswith("Revert"):
        return ()
    return tuple(dict.fromkeys(m.lower() for m in _REVERTS_RE.findall(message)))


# --------------------------------------------------------------------------- libgit2 callbacks


class _AuthError(Exception):
    """Raised inside the credentials callback: stops libgit2 from retrying the same secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Callbacks(pygit2.RemoteCallbacks):
    """Hands each kind of credential to libgit2 once, and honours ssh's known_hosts."""

    def __init__(self, credentials: Credentials, ssh: bool) -> None:
        super().__init__()
        self._credentials = credentials
        self._ssh = ssh
        self._tried: set[CredentialType] = set()
        self.rejected_host: str | None = None

    def __repr__(self) -> str:
        return f"_Callbacks({self._credentials!r})"

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair:
        creds = self._credentials
        user = username_from_url or creds.username or "git"
        if CredentialType.SSH_KEY in allowed_types:
            kind = CredentialType.SSH_KEY
        elif CredentialType.USERPASS_PLAINTEXT in allowed_types:
            kind = CredentialType.USERPASS_PLAINTEXT
        elif CredentialType.USERNAME in allowed_types:
            kind = CredentialType.USERNAME
        else:
            raise _AuthError("the server asks for an authentication method meshrc does not have")
        if kind in self._tried:
            raise _AuthError("authentication failed")
        self._tried.add(kind)
        if kind is CredentialType.USERNAME:
            return pygit2.Username(user)
        if kind is CredentialType.SSH_KEY:
            if creds.ssh_key is None:
                raise _AuthError("authentication required")
            if not creds.ssh_key.is_file():
                raise _AuthError(f"ssh key {creds.ssh_key} is not a readable file")
            public = creds.ssh_public_key
            default_public = creds.ssh_key.with_name(creds.ssh_key.name + ".pub")
            if public is None and default_public.is_file():
                public = default_public
            return pygit2.Keypair(user, public, creds.ssh_key, creds.ssh_passphrase or "")
        if creds.token:
            return pygit2.UserPass(creds.username or "x-access-token", creds.token)
        if creds.username and creds.password:
            return pygit2.UserPass(creds.username, creds.password)
        raise _AuthError("authentication required")

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        # pygit2's default accepts any ssh host key; libgit2's verdict (known_hosts for ssh,
        # the CA store for TLS) is what ``valid`` carries, so keep it.
        if not valid:
            self.rejected_host = host.decode(errors="replace")
        return valid


# --------------------------------------------------------------------------- the source


class GitSource:
    """One opened repository: resolve refs, list and read files of any commit, diff two commits.

    ``location`` is what messages name (the safe URL of a mirror, or the local path); ``path`` is
    the Git directory read; ``cloned`` tells whether this open made a new clone.
    """

    def __init__(
        self,
        repo: pygit2.Repository,
        location: str,
        *,
        url: str | None = None,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cloned: bool = False,
    ) -> None:
        self._repo = repo
        self.location = location
        self.url = url
        self.path = Path(repo.path)
        self.cloned = cloned
        self._credentials = credentials or Credentials()
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"GitSource({self.location!r}, path={str(self.path)!r})"

    def __enter__(self) -> GitSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release libgit2's file handles (pack files) now rather than at garbage collection."""
        self._repo.free()

    @property
    def is_mirror(self) -> bool:
        return self.url is not None

    def fetch(self) -> None:
        """Bring a mirror up to date (all branches and tags, pruned); a local repo is left as is."""
        if self.url is None:
            return
        _fetch(self._repo, self.url, self._credentials, self._timeout, "fetch")

    def resolve(self, ref: str) -> str:
        """The commit id ``ref`` names: branch, tag, full or short id, ``HEAD``, ``refs/...``,
        or a revision expression such as ``HEAD~1``."""
        with self._reading():
            target = self._lookup(ref)
            if target is None:
                raise RefNotFoundError(f"ref {ref!r} not found in {self.location}")
            try:
                commit = target.peel(pygit2.Commit)
            except (pygit2.GitError, ValueError, KeyError):
                raise RefNotFoundError(
                    f"ref {ref!r} in {self.location} does not point to a commit"
                ) from None
            return str(commit.id)

    def files(self, commit: str, subdir: str | None = None) -> list[GitFile]:
        """Every regular file of ``commit`` (under ``subdir``), read from the tree, sorted by path.

        Submodules and symlinks are skipped: neither holds manifests of this repository.
        """
        with self._reading():
            found = self._commit(commit)
            tree = found.tree
            prefix = ""
            if subdir is not None:
                prefix = _clean_subdir(subdir)
                if prefix:
                    tree = self._subtree(tree, prefix, subdir, found)
            out: list[GitFile] = []
            stack: list[tuple[str, pygit2.Tree]] = [(prefix, tree)]
            odb = self._repo.odb
            while stack:
                base, current = stack.pop()
                for entry in current:
                    path = f"{base}/{entry.name}" if base else str(entry.name)
                    if entry.filemode == FileMode.TREE and isinstance(entry, pygit2.Tree):
                        stack.append((path, entry))
                    elif entry.filemode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
                        _, size = odb.read_header(entry.id)
                        out.append(GitFile(path, str(entry.id), size))
            return sorted(out, key=lambda f: f.path)

    def read(self, blob_id: str) -> bytes:
        """The bytes of a blob listed by :meth:`files`."""
        with self._reading():
            obj = self._get(blob_id)
            if not isinstance(obj, pygit2.Blob):
                raise SourceError(f"blob {blob_id} not found in {self.location}")
            return obj.data

    def changed_files(self, base_commit: str, head_commit: str) -> list[str]:
        """Paths added, modified, deleted or renamed (both names) from base to head, sorted."""
        with self._reading():
            base = self._commit(base_commit).tree
            head = self._commit(head_commit).tree
            diff = base.diff_to_tree(head)
            diff.find_similar()
            paths: set[str] = set()
            for delta in diff.deltas:
                paths.update(p for p in (delta.old_file.path, delta.new_file.path) if p)
            return sorted(paths)

    def commit_info(self, commit: str) -> CommitInfo:
        """Author, time and summary of a commit, for reports."""
        with self._reading():
            found = self._commit(commit)
            author = found.author
            offset = timezone(timedelta(minutes=author.offset))
            message = found.raw_message.decode("utf-8", errors="replace")
            return CommitInfo(
                id=str(found.id),
                short_id=found.short_id,
                author_name=author.name,
                author_email=author.email,
                time=datetime.fromtimestamp(author.time, offset),
                summary=message.strip().splitlines()[0] if message.strip() else "",
                reverts=reverted_commits(message),
            )

    # ----------------------------------------------------------------------- internals

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Turn a damaged object store (or a vanished cache) into a RepositoryError."""
        try:
            yield
        except (pygit2.GitError, OSError) as exc:
            message = _scrub(str(exc), self._credentials.secrets)
            raise RepositoryError(f"could not read {self.location}: {message}") from None

    def _lookup(self, ref: str) -> pygit2.Object | None:
        """Follow git's own order (refs/<x>, tags, branches, remotes), then remote-tracking
        branches by their short name, then commit ids: a branch named like a hex id wins."""
        if not ref or ref != ref.strip():
            return None
        refs = self._repo.references
        if ref == "HEAD" or ref.startswith("refs/"):
            names = [ref]
        else:
            names = [
                f"refs/{ref}",
                f"refs/tags/{ref}",
                f"refs/heads/{ref}",
                f"refs/remotes/{ref}",
                f"refs/remotes/{ref}/HEAD",
            ]
        for name in names:
            if not pygit2.reference_is_valid_name(name) and name != "HEAD":
                continue
            reference = refs.get(name)
            if reference is not None:
                try:
                    return self._repo[reference.resolve().target]
                except (KeyError, pygit2.GitError):
                    return None  # a symbolic ref to a branch that does not exist (unborn HEAD)
        if not ref.startswith("refs/"):
            tracking = [n for n in refs if n.startswith("refs/remotes/") and n.endswith(f"/{ref}")]
            tracking = [n for n in tracking if n.count("/") == 3 + ref.count("/")]
            if len(tracking) == 1:
                try:
                    return self._repo[refs[tracking[0]].resolve().target]
                except (KeyError, pygit2.GitError):
                    return None
        if _HEX_RE.fullmatch(ref):
            return self._get(ref)
        if any(sign in ref for sign in "~^@"):
            return self._revparse(ref)
        return None

    def _revparse(self, expression: str) -> pygit2.Object | None:
        """A revision expression (``HEAD~1``, ``origin/main^``), as CI systems write bases."""
        try:
            return self._repo.revparse_single(expression)
        except (KeyError, ValueError, pygit2.GitError):
            return None

    def _get(self, object_id: str) -> pygit2.Object | None:
        if not _HEX_RE.fullmatch(object_id):
            return None
        try:
            return self._repo.get(object_id)
        except (ValueError, KeyError):  # ambiguous or malformed abbreviated id
            return None

    def _commit(self, commit: str) -> pygit2.Commit:
        obj = self._get(commit)
        if obj is not None:
            try:
                return obj.peel(pygit2.Commit)
            except (pygit2.GitError, ValueError, KeyError):
                pass
        raise RefNotFoundError(f"commit {commit!r} not found in {self.location}")

    def _subtree(
        self, tree: pygit2.Tree, prefix: str, subdir: str, commit: pygit2.Commit
    ) -> pygit2.Tree:
        try:
            entry = tree[prefix]
        except KeyError:
            entry = None
        if not isinstance(entry, pygit2.Tree):
            raise SourceError(
                f"directory {subdir!r} not found at commit {commit.short_id} in {self.location}"
            )
        return entry


def _clean_subdir(subdir: str) -> str:
    """Normalise ``./a//b/`` to ``a/b``; refuse paths that leave the repository."""
    path = PurePosixPath(subdir.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise SourceError(f"directory {subdir!r} must be relative to the repository root")
    return "/".join(part for part in path.parts if part not in ("", "."))


# --------------------------------------------------------------------------- opening


def open_source(
    url_or_path: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    credentials: Credentials | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> GitSource:
    """Open a local repository in place, or mirror a remote one into ``cache_dir`` and fetch it.

    Remote URLs may be ``file://``, ``http(s)://``, ``ssh://``, ``git://`` or scp-like
    ``user@host:path``. Credentials in the URL are used (when ``credentials`` has none) but never
    stored. ``timeout`` bounds connecting and each wait for the server (process-wide in libgit2).
    """
    target = os.fspath(url_or_path)
    if not is_remote(target):
        return _open_local(Path(target))
    if cache_dir is None:
        raise UsageError(f"a cache directory is needed to read {safe_url(target)}")
    safe, creds = _url_credentials(target, credentials)
    return _open_mirror(safe, Path(cache_dir), creds, timeout)


def _url_credentials(target: str, credentials: Credentials | None) -> tuple[str, Credentials]:
    """The URL without secrets, and the credentials to use: ``credentials``, else the URL's."""
    safe, user, password = _split_url(target)
    creds = credentials or Credentials()
    if not (creds.token or creds.password) and (user or password):
        if password is not None:
            creds = Credentials(username=user, password=password)
        elif not _SCHEME_RE.match(target) or target.split(":", 1)[0].lower() in _SSH_SCHEMES:
            pass  # an ssh user is an account name, not a secret
        else:
            creds = Credentials(token=user)  # https://TOKEN@host/... as forges accept it
    return safe, creds


# --------------------------------------------------------------------------- pushing


class _PushCallbacks(_Callbacks):
    """Also collects the references the server refused."""

    def __init__(self, credentials: Credentials, ssh: bool) -> None:
        super().__init__(credentials, ssh)
        self.refused: dict[str, str] = {}

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message is not None:
            self.refused[refname] = message


def clone_for_push(
    url: str,
    dest: Path,
    credentials: Credentials | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> pygit2.Repository:
    """A bare clone of ``url`` at ``dest`` (a temporary folder), to commit to and push from:
    its branches are local branches, its HEAD the server's default branch."""
    safe, creds = _url_credentials(url, credentials)
    millis = max(1, int(timeout * 1000))
    pygit2.settings.server_connect_timeout = millis
    pygit2.settings.server_timeout = millis
    ssh = _is_ssh(safe)
    callbacks = _Callbacks(creds, ssh)
    try:
        return pygit2.clone_repository(safe, str(dest), bare=True, callbacks=callbacks)
    except _AuthError as exc:
        raise RepositoryError(
            f"could not clone {safe}: {exc.reason} ({creds._hint(ssh)})"
        ) from None
    except (pygit2.GitError, OSError) as exc:
        _fail_git("clone", safe, creds, callbacks, ssh, timeout, exc)


def push(
    repo: pygit2.Repository,
    url: str,
    refspec: str,
    credentials: Credentials | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Push ``refspec`` of ``repo`` to ``url`` (never forced); a refusal by the server (the
    branch moved meanwhile, a protected branch) is a RepositoryError without any secret."""
    safe, creds = _url_credentials(url, credentials)
    millis = max(1, int(timeout * 1000))
    pygit2.settings.server_connect_timeout = millis
    pygit2.settings.server_timeout = millis
    ssh = _is_ssh(safe)
    callbacks = _PushCallbacks(creds, ssh)
    remote = repo.remotes.create_anonymous(safe)
    try:
        remote.push([refspec.lstrip("+")], callbacks=callbacks)
    except _AuthError as exc:
        raise RepositoryError(
            f"could not push to {safe}: {exc.reason} ({creds._hint(ssh)})"
        ) from None
    except (pygit2.GitError, OSError) as exc:
        _fail_git("push to", safe, creds, callbacks, ssh, timeout, exc)
    if callbacks.refused:
        refused = "; ".join(
            f"{name}: {_scrub(reason, creds.secrets)}" for name, reason in callbacks.refused.items()
        )
        raise RepositoryError(f"could not push to {safe}: the server refused {refused}")


def open_repository(path: Path) -> pygit2.Repository:
    """The repository at ``path`` itself (not one of its parents), or a RepositoryError."""
    if not path.exists():
        raise RepositoryError(f"no repository at {path}: the path does not exist")
    try:
        return pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH)
    except (pygit2.GitError, OSError) as exc:
        raise RepositoryError(f"no repository at {path}: {exc}") from None


def _open_local(path: Path) -> GitSource:
    return GitSource(open_repository(path), str(path))


def _open_mirror(url: str, cache_dir: Path, creds: Credentials, timeout: float) -> GitSource:
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()
    dest = cache_dir / key
    repo = _open_cached(dest, url)
    if repo is not None:
        log.info("fetching %s into %s", url, dest)
        _fetch(repo, url, creds, timeout, "fetch")
        return GitSource(repo, url, url=url, credentials=creds, timeout=timeout)
    log.info("cloning %s into %s", url, dest)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=cache_dir))
    except OSError as exc:
        _fail_os("clone", url, cache_dir, exc)
    try:
        fresh = pygit2.init_repository(str(staging), bare=True)
        fresh.remotes.create(_REMOTE, url, _FETCH_REFSPECS[0])
        for refspec in _FETCH_REFSPECS[1:]:
            fresh.remotes.add_fetch(_REMOTE, refspec)
        _fetch(fresh, url, creds, timeout, "clone")
        fresh.free()
        try:
            staging.rename(dest)  # atomic: a half-done clone is never seen under its key
        except OSError:
            if not (dest / "HEAD").exists():
                raise
            log.info("another process cloned %s first; using its copy", url)
    except pygit2.GitError as exc:
        raise RepositoryError(f"could not clone {url}: {_scrub(str(exc), creds.secrets)}") from None
    except OSError as exc:
        _fail_os("clone", url, dest, exc)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    repo = _open_cached(dest, url)
    if repo is None:
        raise RepositoryError(f"could not clone {url}: the clone at {dest} cannot be opened")
    return GitSource(repo, url, url=url, credentials=creds, timeout=timeout, cloned=True)


def _open_cached(dest: Path, url: str) -> pygit2.Repository | None:
    """The mirror at ``dest``, or None (removing it) when it is absent, damaged or foreign."""
    if not dest.exists():
        return None
    try:
        repo = pygit2.Repository(str(dest), RepositoryOpenFlag.NO_SEARCH | RepositoryOpenFlag.BARE)
        if repo.is_bare and repo.remotes[_REMOTE].url == url:
            return repo
        repo.free()
    except (pygit2.GitError, KeyError, OSError, ValueError):
        pass
    log.warning("cache %s is not a usable mirror of %s; cloning again", dest, url)
    shutil.rmtree(dest, ignore_errors=True)
    return None


def _fetch(
    repo: pygit2.Repository, url: str, creds: Credentials, timeout: float, action: str
) -> None:
    """Fetch all branches and tags with pruning, then point HEAD where the server's HEAD points."""
    millis = max(1, int(timeout * 1000))
    pygit2.settings.server_connect_timeout = millis
    pygit2.settings.server_timeout = millis
    ssh = _is_ssh(url)
    callbacks = _Callbacks(creds, ssh)
    remote = repo.remotes[_REMOTE]
    try:
        remote.fetch(callbacks=callbacks, prune=FetchPrune.PRUNE)
        for head in remote.list_heads(connect=False):  # what the fetch saw; no new connection
            if head.name == "HEAD" and head.symref_target:
                if repo.references.get(head.symref_target) is not None:
                    repo.set_head(head.symref_target)
                break
    except _AuthError as exc:
        raise RepositoryError(
            f"could not {action} {url}: {exc.reason} ({creds._hint(ssh)})"
        ) from None
    except (pygit2.GitError, OSError) as exc:
        _fail_git(action, url, creds, callbacks, ssh, timeout, exc)


def _is_ssh(url: str) -> bool:
    if _SCHEME_RE.match(url):
        return url.split(":", 1)[0].lower() in _SSH_SCHEMES
    return True  # scp-like


def _fail_git(
    action: str,
    url: str,
    creds: Credentials,
    callbacks: _Callbacks,
    ssh: bool,
    timeout: float,
    exc: BaseException,
) -> NoReturn:
    """Say what went wrong in words a user can act on, without any secret."""
    detail = _scrub(str(exc), creds.secrets)
    lowered = detail.lower()
    if callbacks.rejected_host is not None:
        host = callbacks.rejected_host
        if ssh:
            cause = f"the ssh host key of {host} is unknown or changed (see ~/.ssh/known_hosts)"
        else:
            cause = f"the TLS certificate of {host} is not trusted"
    elif "timed out" in lowered or "timeout" in lowered:
        cause = f"the server did not answer within {timeout:g} s ({detail})"
    elif any(
        s in lowered
        for s in ("failed to connect", "connection refused", "failed to resolve address")
    ):
        cause = f"server unreachable ({detail})"
    elif "status code: 401" in lowered or "authentication" in lowered:
        cause = f"authentication failed ({creds._hint(ssh)}): {detail}"
    elif "status code: 403" in lowered:
        cause = f"access denied ({detail})"
    elif "status code: 404" in lowered:
        cause = f"repository not found ({detail})"
    else:
        cause = detail
    raise RepositoryError(f"could not {action} {url}: {cause}") from None


def _fail_os(action: str, url: str, where: Path, exc: OSError) -> NoReturn:
    reason = exc.strerror or str(exc)
    raise RepositoryError(f"could not {action} {url} into {where}: {reason}") from None
