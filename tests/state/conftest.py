"""Stores to test against: a SQLite file, and a database in a throwaway PostgreSQL cluster.

The cluster starts once per session: initdb into a temporary folder, the server on 127.0.0.1
at a free port with its unix socket in that folder, password (scram) authentication. As root
it runs as the ``postgres`` user, since PostgreSQL refuses root. Every test gets a database
of its own (a schema). Missing PostgreSQL binaries fail the tests under ``CI=true`` (``.ci/run``
installs them) and skip them elsewhere.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from conftest import unavailable

from reconciler.state import StateStore, open_store

BACKENDS = ["sqlite", "postgresql"]


@dataclass(frozen=True)
class Postgres:
    """A running throwaway cluster and the superuser to reach it with."""

    port: int
    user: str = "meshrc"
    password: str = "s3cret-pg-password"
    host: str = "127.0.0.1"

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        return (
            f"postgresql://{self.user}:{password or self.password}"
            f"@{self.host}:{self.port}/{database}"
        )

    def fresh_schema(self, name: str) -> str:
        """The URL of a new, empty schema: as good as a new database, and 50 times quicker."""
        conninfo = f"host={self.host} port={self.port} user={self.user} dbname=postgres"
        with psycopg.connect(conninfo, password=self.password, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url()}?options=-csearch_path%3D{name}"


def _bindir() -> Path:
    """Debian's newest /usr/lib/postgresql/N/bin, or the folder of initdb on PATH."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        unavailable("PostgreSQL not found (initdb)", "CI must install it (.ci/run: postgresql)")
    return found[-1].parent


def _as_server_user(command: list[str]) -> list[str]:
    """The command as the ``postgres`` user when running as root."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        unavailable("running as root and no postgres user to run PostgreSQL as", "install it")
    return ["runuser", "-u", "postgres", "--", *command]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(command: list[str], log: Path | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        server_log = log.read_text() if log and log.exists() else ""
        pytest.fail(f"{' '.join(command)}: {done.stdout}{done.stderr}{server_log}", pytrace=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """The session's cluster; stopped, and its folder removed, at the end."""
    bindir = _bindir()
    server = Postgres(port=free_port())
    # not under pytest's tmp_path: the postgres user cannot enter root's 0700 folders
    folder = Path(tempfile.mkdtemp(prefix="meshrc-pg-"))
    data, log, pwfile = folder / "data", folder / "server.log", folder / "pwfile"
    pg_ctl = _as_server_user([str(bindir / "pg_ctl"), "-D", str(data)])
    options = (
        f"-p {server.port} -c listen_addresses={server.host} "
        f"-c unix_socket_directories={folder} -c fsync=off -c full_page_writes=off"
    )
    try:
        pwfile.write_text(server.password)
        if os.geteuid() == 0:
            for path in (folder, pwfile):
                shutil.chown(path, "postgres")
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", server.user]
        auth = [f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256"]
        _run(_as_server_user([*initdb, *auth, "--no-sync", "-E", "UTF8", "--no-locale"]))
        _run([*pg_ctl, "-l", str(log), "-w", "-t", "60", "-o", options, "start"], log)
        try:
            yield server
        finally:
            _run([*pg_ctl, "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_schemas = itertools.count()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of a new, empty store: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    server: Postgres = request.getfixturevalue("postgres")
    return server.fresh_schema(f"meshrc_{next(_schemas)}")


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[StateStore]:
    with open_store(store_url, tmp_path / "unused") as opened:
        yield opened
