"""Real Git servers on 127.0.0.1 for the source tests, each on its own port, stopped after use.

- ``git_daemon``: ``git daemon`` serving bare repositories over git://.
- ``http_git``: smart HTTP through ``git http-backend`` run as a CGI behind a small threaded
  stdlib server that demands basic auth (a token, as forges take it).
- ``ssh_git``: OpenSSH's ``sshd -D`` with a generated host key and one authorized client key.

A server whose binary is missing makes its tests fail under ``CI=true`` (CI must install it) and
skip, with the reason, elsewhere.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import io
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, cast

import pygit2
import pytest
from pygit2.enums import FileMode, ObjectType

HOST = "127.0.0.1"
LOCKED_KEY_PASSPHRASE = "correct horse battery staple"
SIGNATURE_EMAIL = "dev@example.com"
_clock = iter(range(1_700_000_000, 1_800_000_000, 60))


# --------------------------------------------------------------------------- repositories


def commit(
    repo: pygit2.Repository,
    files: Mapping[str, bytes | tuple[FileMode, bytes]],
    message: str,
    *,
    branch: str = "main",
) -> str:
    """Commit exactly ``files`` (a full snapshot) on ``branch``, without touching a work tree.

    A value is the file's bytes, or (mode, data) for a symlink (data = target) or a submodule
    (mode COMMIT, data = the commit id).
    """
    index = pygit2.Index()
    for path, value in files.items():
        mode, data = value if isinstance(value, tuple) else (FileMode.BLOB, value)
        oid = pygit2.Oid(hex=data.decode()) if mode == FileMode.COMMIT else repo.create_blob(data)
        index.add(pygit2.IndexEntry(path, oid, mode))
    tree = index.write_tree(repo)
    ref = f"refs/heads/{branch}"
    parent = repo.references.get(ref)
    parents = [parent.target] if parent is not None else []
    sig = pygit2.Signature("Dev Eloper", SIGNATURE_EMAIL, next(_clock), 120)
    return str(repo.create_commit(ref, sig, sig, message, tree, parents))


def tag(repo: pygit2.Repository, name: str, commit_id: str, message: str = "") -> None:
    """An annotated tag when ``message`` is given, else a lightweight one."""
    if message:
        sig = pygit2.Signature("Dev Eloper", SIGNATURE_EMAIL, next(_clock), 0)
        repo.create_tag(name, pygit2.Oid(hex=commit_id), ObjectType.COMMIT, sig, message)
    else:
        repo.references.create(f"refs/tags/{name}", pygit2.Oid(hex=commit_id))


def bare_repo(path: Path, default_branch: str = "main") -> pygit2.Repository:
    return pygit2.init_repository(str(path), bare=True, initial_head=default_branch)


# --------------------------------------------------------------------------- binaries and ports


def need(what: str, available: bool) -> None:
    """Fail under CI (which must provide ``what``), skip with the reason anywhere else."""
    if available:
        return
    reason = f"{what} is not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must install it (.ci/run)", pytrace=False)
    print(f"skipping: {reason}")
    pytest.skip(reason)


def git_tool(name: str) -> Path | None:
    """The path of a git sub-command binary such as ``git-daemon``, if this git ships it."""
    git = shutil.which("git")
    if git is None:
        return None
    exec_path = subprocess.run(
        [git, "--exec-path"], capture_output=True, text=True, check=False
    ).stdout.strip()
    tool = Path(exec_path) / name
    return tool if tool.is_file() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    """True once ``port`` accepts connections; False if ``proc`` died first (port taken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"server on port {port} did not start within {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started in its own session, with the children it forked per connection."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


def start_server(args: list[str], port_arg: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``args + [port_arg % port]`` on a free port, retrying if another process took it."""
    for _ in range(5):
        port = free_port()
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [*args, port_arg % port],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait_for_port(port, proc):
            return proc, port
        stop(proc)
    raise RuntimeError(f"could not start {args[0]}: {log.read_text(errors='replace')}")


# --------------------------------------------------------------------------- git daemon


@dataclass
class Served:
    """A directory of bare repositories behind a server; ``url(name)`` is how clients reach one."""

    root: Path
    base_url: str

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def repo(self, name: str) -> pygit2.Repository:
        path = self.root / name
        if path.exists():
            return pygit2.Repository(str(path))
        return bare_repo(path)


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[Served]:
    need("git daemon (Debian package git)", git_tool("git-daemon") is not None)
    root = tmp_path / "daemon-root"
    root.mkdir()
    args = [
        "git",
        "daemon",
        "--reuseaddr",
        "--export-all",
        "--informative-errors",
        f"--base-path={root}",
        f"--listen={HOST}",
    ]
    proc, port = start_server(args, "--port=%d", tmp_path / "git-daemon.log")
    try:
        yield Served(root, f"git://{HOST}:{port}")
    finally:
        stop(proc)


# --------------------------------------------------------------------------- smart HTTP


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    project_root: Path
    username: str
    token: str
    requests: list[tuple[str, str, bool]]
    gate: threading.Event
    held: threading.Event


class _GitHTTPHandler(BaseHTTPRequestHandler):
    """Basic auth in front of ``git http-backend``, which does the Git side as a CGI."""

    server: _GitHTTPServer
    # Keep-alive, with the CGI's output streamed as chunks (libgit2 does not read a body that
    # only ends when the connection closes).
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request list on the server is what tests look at."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _authorized_user(self) -> str | None:
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None
        ok = password == self.server.token and user == self.server.username
        return user if ok else None

    def _serve(self) -> None:
        user = self._authorized_user()
        self.server.requests.append((self.command, self.path, user is not None))
        if user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            if self.command == "POST":  # its unread body must not be taken for the next request
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        if path.endswith("/git-upload-pack") and not self.server.gate.is_set():
            self.server.held.set()  # a fetch is waiting for the test to open the gate
            self.server.gate.wait(120)
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "GIT_PROJECT_ROOT": str(self.server.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": urllib.parse.unquote(path),
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
        }
        if not chunked:  # without CONTENT_LENGTH, http-backend reads the body to EOF
            env["CONTENT_LENGTH"] = self.headers.get("Content-Length", "0")
        for header in ("Git-Protocol", "Content-Encoding"):
            if header in self.headers:
                env["HTTP_" + header.upper().replace("-", "_")] = self.headers[header]
        backend = subprocess.Popen(
            ["git", "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        assert backend.stdin is not None and backend.stdout is not None
        feeder = threading.Thread(target=self._feed, args=(backend.stdin, chunked), daemon=True)
        feeder.start()
        status, headers = 200, []
        while line := backend.stdout.readline().rstrip(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        output = cast(io.BufferedReader, backend.stdout)
        while chunk := output.read1(65536):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")
        feeder.join()
        backend.wait()

    def _feed(self, stdin: IO[bytes], chunked: bool) -> None:
        """Stream the request body into the CGI, undoing chunked transfer encoding."""
        try:
            if chunked:
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    stdin.write(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
            else:
                remaining = int(self.headers.get("Content-Length", "0"))
                while remaining > 0:
                    data = self.rfile.read(min(remaining, 65536))
                    if not data:
                        break
                    stdin.write(data)
                    remaining -= len(data)
        except BrokenPipeError:
            pass
        finally:
            stdin.close()


@dataclass
class HTTPServed(Served):
    username: str
    token: str
    requests: list[tuple[str, str, bool]]
    gate: threading.Event
    """Cleared: fetches wait (``held`` is set) until it is set again: a slow server."""
    held: threading.Event


@pytest.fixture
def http_git(tmp_path: Path) -> Iterator[HTTPServed]:
    need("git http-backend (Debian package git)", git_tool("git-http-backend") is not None)
    root = tmp_path / "http-root"
    root.mkdir()
    server = _GitHTTPServer((HOST, 0), _GitHTTPHandler)
    server.project_root = root
    server.username = "x-access-token"
    server.token = "ghs_" + base64.b32encode(os.urandom(15)).decode().lower()
    server.requests = []
    server.gate, server.held = threading.Event(), threading.Event()
    server.gate.set()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield HTTPServed(
            root,
            f"http://{HOST}:{server.server_address[1]}",
            server.username,
            server.token,
            server.requests,
            server.gate,
            server.held,
        )
    finally:
        server.gate.set()
        server.shutdown()
        server.server_close()
        thread.join()


# --------------------------------------------------------------------------- ssh


def _sshd() -> Path | None:
    found = shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin:/usr/local/sbin")
    return Path(found) if found and shutil.which("ssh-keygen") else None


def keygen(path: Path, passphrase: str = "") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "meshrc-test", "-f", path],
        check=True,
    )
    return path


@dataclass
class SSHServed(Served):
    client_key: Path
    locked_key: Path
    """Also authorized; encrypted with LOCKED_KEY_PASSPHRASE."""
    known_hosts_line: str
    home: Path

    def trust_host(self) -> None:
        """Put the server's host key in the known_hosts libgit2 reads (its home directory)."""
        (self.home / ".ssh" / "known_hosts").write_text(self.known_hosts_line + "\n")


@pytest.fixture
def ssh_git(tmp_path: Path) -> Iterator[SSHServed]:
    sshd = _sshd()
    need("sshd (Debian package openssh-server)", sshd is not None)
    assert sshd is not None
    conf = tmp_path / "sshd"
    conf.mkdir()
    host_key = keygen(conf / "host_ed25519")
    client_key = keygen(tmp_path / "client_ed25519")
    locked_key = keygen(tmp_path / "locked_ed25519", passphrase=LOCKED_KEY_PASSPHRASE)
    authorized = conf / "authorized_keys"
    authorized.write_text(
        "".join(Path(f"{key}.pub").read_text() for key in (client_key, locked_key))
    )
    authorized.chmod(0o600)
    config = conf / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"ListenAddress {HOST}",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {authorized}",
                f"PidFile {conf / 'sshd.pid'}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    if os.geteuid() == 0:  # sshd run by root insists on its privilege-separation directory
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    root = tmp_path / "ssh-root"
    root.mkdir()
    proc, port = start_server([str(sshd), "-D", "-e", "-f", str(config)], "-p%d", conf / "log")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text("")
    previous_home = pygit2.settings.homedir
    pygit2.settings.homedir = str(home)
    user = getpass.getuser()
    host_public = (conf / "host_ed25519.pub").read_text().split()
    try:
        yield SSHServed(
            root,
            f"ssh://{user}@{HOST}:{port}{root}",
            client_key,
            locked_key,
            f"[{HOST}]:{port} {host_public[0]} {host_public[1]}",
            home,
        )
    finally:
        if previous_home is not None:
            pygit2.settings.homedir = previous_home
        stop(proc)
