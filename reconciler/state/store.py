"""The history of syncs in SQLite or PostgreSQL, behind one small API.

Every method is one short transaction, so several meshrc processes can share a database:
SQLite runs in WAL mode (readers never wait for the writer), waits up to a busy timeout for
the write lock, and takes it before a write starts (``BEGIN IMMEDIATE``) so that a writer
never has to give up half-way; PostgreSQL needs nothing more than its transactions.

Secrets stay out: a repository URL is stored without credentials, and errors name the
database with its password hidden.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, create_engine, event, select
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from reconciler.errors import StateError
from reconciler.source.git import safe_url
from reconciler.state import migrating
from reconciler.state.records import (
    GOOD,
    SETTLED,
    DriftRecord,
    RollbackRecord,
    SyncRecord,
    SyncResult,
    TargetStatus,
)
from reconciler.state.schema import drifts, rollbacks, syncs

DEFAULT_FILE = "meshrc.db"

BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for another process's write to finish."""

CONNECT_TIMEOUT = 10
"""Seconds to reach a PostgreSQL server, unless the URL says ``?connect_timeout=``."""

_WRITE = "meshrc_write"
"""Execution option of a connection about to write: SQLite then begins ``IMMEDIATE``."""

_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg"}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}


def open_store(url: str | None, state_dir: Path) -> StateStore:
    """The store at ``url``, migrated to this meshrc's schema.

    ``None`` is the SQLite file ``state_dir/meshrc.db`` (created, with its folders);
    otherwise ``sqlite:///PATH`` or ``postgresql://user:password@host:port/database``.
    """
    if url is None:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"state directory {state_dir}: {exc.strerror}") from None
        url = URL.create("sqlite", database=str(state_dir / DEFAULT_FILE)).render_as_string()
    store = StateStore(_parse(url))
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def _parse(url: str) -> URL:
    """The URL as given; a password given as a query parameter moves to its place, where
    rendering hides it."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise StateError(
            f"not a database URL: {safe_url(url)} "
            "(use sqlite:///PATH or postgresql://user@host:port/database)"
        ) from None
    if parsed.drivername not in _SQLITE_DRIVERS | _POSTGRES_DRIVERS:
        raise StateError(
            f"unsupported state database {parsed.drivername}:// "
            "(use sqlite:///PATH or postgresql://user@host:port/database)"
        )
    password = parsed.query.get("password")
    if isinstance(password, str):
        parsed = parsed.difference_update_query(["password"]).set(password=password)
    return parsed


class StateStore:
    """The history of syncs and rollbacks in one database. Open it with :func:`open_store`."""

    def __init__(self, url: URL) -> None:
        self.database = _shown(url)
        """How messages name the database: a SQLite path, or the URL without its password."""
        self._password = url.password
        self._engine = _engine(url)

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a read when it is there already."""
        with self._reading() as connection:
            if migrating.is_current(connection, self.database):
                return
        with self._writing() as connection:
            migrating.upgrade(connection, self.database)

    def record_sync(self, record: SyncRecord) -> int:
        """Store a sync (its repository URL without credentials); its new id."""
        return self._insert(
            syncs,
            {
                **asdict(record),
                "repository": safe_url(record.repository),
                "result": record.result.value,
            },
        )

    def record_rollback(self, record: RollbackRecord) -> int:
        """Store a rollback; its new id."""
        return self._insert(rollbacks, asdict(record))

    def amend_rollback(self, record_id: int, reason: str) -> None:
        """Replace a rollback's reason: what became of it later (an auto-revert) joins it."""
        with self._writing() as connection:
            update = rollbacks.update().where(rollbacks.c.id == record_id)
            connection.execute(update.values(reason=reason))

    def record_drift(self, record: DriftRecord) -> int:
        """Store a drift found on a target; its new id."""
        return self._insert(drifts, asdict(record))

    def drifts(self, target: str | None = None, limit: int = 50) -> list[DriftRecord]:
        """The last ``limit`` drifts found (on one target, or all), newest first."""
        with self._reading() as connection:
            rows = _newest(connection, drifts, target, limit)
            return [DriftRecord(**row._mapping) for row in rows]

    def last_applied(self, target: str) -> SyncRecord | None:
        """The target's last applied or no-op sync: its current good commit and content."""
        with self._reading() as connection:
            return _last_sync(connection, target, GOOD)

    def history(self, target: str | None = None, limit: int = 50) -> list[SyncRecord]:
        """The last ``limit`` syncs (of one target, or all), newest first."""
        with self._reading() as connection:
            return [_sync(row) for row in _newest(connection, syncs, target, limit)]

    def rollbacks(self, target: str | None = None, limit: int = 50) -> list[RollbackRecord]:
        """The last ``limit`` rollbacks (of one target, or all), newest first."""
        with self._reading() as connection:
            rows = _newest(connection, rollbacks, target, limit)
            return [RollbackRecord(**row._mapping) for row in rows]

    def status(self) -> list[TargetStatus]:
        """Every target ever synced, by name: what it runs and how its last sync went."""
        with self._reading() as connection:
            # sorted here: a PostgreSQL collation may order names unlike SQLite and Python
            targets = sorted(connection.scalars(select(syncs.c.target).distinct()))
            return [_status(connection, target) for target in targets]

    def _insert(self, table: Table, values: dict[str, Any]) -> int:
        del values["id"]
        with self._writing() as connection:
            inserted = connection.execute(table.insert().values(values).returning(table.c.id))
            return int(inserted.scalar_one())

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._translated(), self._engine.connect() as connection:
            yield connection

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self._reading() as connection:
            connection.execution_options(**{_WRITE: True})
            with connection.begin():
                yield connection

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Database errors become a :class:`StateError` naming the database, password hidden."""
        try:
            yield
        except SQLAlchemyError as exc:
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
            if self._password:
                reason = reason.replace(self._password, "***")
            raise StateError(f"state database {self.database}: {reason}") from None


def _engine(url: URL) -> Engine:
    if url.drivername in _POSTGRES_DRIVERS:
        if "connect_timeout" not in url.query:
            url = url.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT)})
        return create_engine(url.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT})
    event.listen(engine, "connect", _sqlite_connected)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connected(dbapi_connection: Any, _record: Any) -> None:
    """WAL, and transactions begun by SQLAlchemy (below) rather than by the driver.

    Switching a new database to WAL needs it alone; another process switching it at the same
    moment makes SQLite answer "locked" at once, without its busy wait: so wait here, within
    the same busy timeout. (Once the file is in WAL mode, the mode sticks: no switch, no wait.)
    """
    dbapi_connection.isolation_level = None
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_begin(connection: Connection) -> None:
    """A write takes the lock as it begins, while it can still wait for it (busy timeout)."""
    mode = "IMMEDIATE" if connection.get_execution_options().get(_WRITE) else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")


def _shown(url: URL) -> str:
    if url.drivername in _SQLITE_DRIVERS:
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


_NEWEST_FIRST = {
    syncs.name: (syncs.c.finished.desc(), syncs.c.id.desc()),
    rollbacks.name: (rollbacks.c.at.desc(), rollbacks.c.id.desc()),
    drifts.name: (drifts.c.found_at.desc(), drifts.c.id.desc()),
}
"""By time; records of the same time, last recorded first."""


def _newest(
    connection: Connection,
    table: Table,
    target: str | None,
    limit: int,
    *criteria: ColumnElement[bool],
) -> Sequence[Row[Any]]:
    """The newest ``limit`` rows of ``table`` that match ``criteria`` (and ``target``)."""
    query = select(table).where(*criteria).order_by(*_NEWEST_FIRST[table.name]).limit(limit)
    if target is not None:
        query = query.where(table.c.target == target)
    return connection.execute(query).all()


def _sync(row: Row[Any]) -> SyncRecord:
    return SyncRecord(**{**row._mapping, "result": SyncResult(row.result)})


def _last_sync(
    connection: Connection, target: str, results: Sequence[SyncResult] | None = None
) -> SyncRecord | None:
    """The target's last sync, of any result or of one of ``results``."""
    criteria = () if results is None else (syncs.c.result.in_(results),)
    rows = _newest(connection, syncs, target, 1, *criteria)
    return _sync(rows[0]) if rows else None


def _status(connection: Connection, target: str) -> TargetStatus:
    last = _last_sync(connection, target)
    assert last is not None  # the target comes from the table
    applied = _last_sync(connection, target, SETTLED)
    rollback = None
    if applied is not None and applied.result is SyncResult.ROLLED_BACK:
        rows = _newest(connection, rollbacks, target, 1, rollbacks.c.at >= applied.started)
        rollback = RollbackRecord(**rows[0]._mapping) if rows else None
    return TargetStatus(target, applied, last, rollback)
