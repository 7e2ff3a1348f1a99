"""The store against SQLite and a real PostgreSQL: what goes in comes out, in order, with no
secret; migrations; concurrent writers; and errors that name the database, never a password."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from reconciler.errors import StateError
from reconciler.state import (
    RollbackRecord,
    StateStore,
    SyncRecord,
    SyncResult,
    TargetStatus,
    open_store,
)
from reconciler.state.migrating import MIGRATIONS
from reconciler.state.schema import VERSION_TABLE, metadata

from .conftest import Postgres, free_port

T0 = datetime(2024, 5, 2, 9, 0, 0, 123456, tzinfo=UTC)
SHA = {name: name * 40 for name in "abcdef"}


def sync(target: str, commit: str, result: SyncResult, minute: int, **fields: Any) -> SyncRecord:
    """A sync of ``SHA[commit]`` that started at T0 + ``minute`` and took 30 s."""
    started = T0 + timedelta(minutes=minute)
    end = started + timedelta(seconds=30)
    return SyncRecord(target, SHA[commit], result, started, end, **fields)


def recorded(store: StateStore, *records: SyncRecord) -> list[SyncRecord]:
    """The records as stored: with their ids."""
    return [replace(r, id=store.record_sync(r)) for r in records]


@contextmanager
def raw(store_url: str) -> Iterator[sa.Connection]:
    """A plain SQLAlchemy connection to the store's database, to look behind the API."""
    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def test_a_sync_comes_back_with_every_field(store: StateStore) -> None:
    record = SyncRecord(
        target="prod-eu",
        commit=SHA["a"],
        result=SyncResult.APPLIED,
        started=T0,
        finished=T0 + timedelta(seconds=4, microseconds=1),
        repository="https://git.example.com/mesh.git",
        ref="main",
        author="Ana Lima <ana@example.com>",
        message="reviews: canary v2 at 20% — ünïcode",
        content_hash="sha256:" + "0" * 64,
        counts={"created": 3, "configured": 1, "unchanged": 7, "deleted": 0},
        findings=[{"code": "weights-not-100", "severity": "error", "file": "a.yaml", "line": 3}],
        error="line one\nline two",
        routing_diff={"base": SHA["b"], "hosts": [{"host": "reviews.shop.svc.cluster.local",
                      "changes": [{"kind": "weights", "before": {"v1": 100.0}}]}]},
    )  # fmt: skip
    record_id = store.record_sync(record)
    assert store.history() == [replace(record, id=record_id)]


def test_a_rollback_comes_back_with_every_field(store: StateStore) -> None:
    rollback = RollbackRecord("prod-eu", SHA["b"], SHA["a"], "5xx rate 12% > 1%", T0)
    first = RollbackRecord("prod-eu", None, SHA["a"], "manual", T0 - timedelta(hours=1))
    ids = store.record_rollback(rollback), store.record_rollback(first)
    assert store.rollbacks() == [replace(rollback, id=ids[0]), replace(first, id=ids[1])]


def test_times_are_stored_as_instants_and_read_as_utc(store: StateStore) -> None:
    cest = timezone(timedelta(hours=2))
    store.record_sync(replace(sync("t", "a", SyncResult.APPLIED, 0), started=T0.astimezone(cest)))
    (back,) = store.history()
    assert back.started == T0 and back.started.tzinfo is UTC


def test_a_naive_time_is_refused_where_it_is_made() -> None:
    with pytest.raises(ValueError, match="started must be timezone-aware"):
        SyncRecord("t", SHA["a"], SyncResult.APPLIED, datetime(2024, 5, 2), T0)
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        RollbackRecord("t", None, SHA["a"], "why", datetime(2024, 5, 2))


def test_history_is_newest_first_by_finish_time_then_by_recording(store: StateStore) -> None:
    late, early, tie_1, tie_2 = recorded(
        store,
        sync("prod", "a", SyncResult.APPLIED, 10),
        sync("stage", "b", SyncResult.FAILED, 1),
        sync("prod", "c", SyncResult.BLOCKED, 5),
        sync("stage", "d", SyncResult.NO_OP, 5),
    )
    assert store.history() == [late, tie_2, tie_1, early]
    assert store.history(limit=2) == [late, tie_2]
    assert store.history("prod") == [late, tie_1]
    assert store.history("stage", limit=1) == [tie_2]
    assert store.history("nowhere") == []


def test_rollbacks_are_newest_first_and_filtered(store: StateStore) -> None:
    older = RollbackRecord("prod", SHA["b"], SHA["a"], "5xx", T0)
    newer = RollbackRecord("stage", SHA["c"], SHA["b"], "5xx", T0 + timedelta(minutes=1))
    ids = store.record_rollback(older), store.record_rollback(newer)
    assert store.rollbacks() == [replace(newer, id=ids[1]), replace(older, id=ids[0])]
    assert store.rollbacks("prod") == [replace(older, id=ids[0])]
    assert store.rollbacks(limit=1) == [replace(newer, id=ids[1])]


def test_last_applied_is_the_last_applied_or_no_op_sync(store: StateStore) -> None:
    _, no_op, *_ = recorded(
        store,
        sync("prod", "a", SyncResult.APPLIED, 0, content_hash="h1"),
        sync("prod", "a", SyncResult.NO_OP, 1, content_hash="h1"),
        sync("prod", "b", SyncResult.BLOCKED, 2),
        sync("prod", "c", SyncResult.FAILED, 3),
        sync("prod", "d", SyncResult.ROLLED_BACK, 4),
        sync("stage", "e", SyncResult.FAILED, 5),
    )
    assert store.last_applied("prod") == no_op
    assert store.last_applied("stage") is None
    assert store.last_applied("nowhere") is None


def test_status_says_what_each_target_runs_and_how_its_last_sync_went(store: StateStore) -> None:
    (prod_applied, prod_blocked, _, stage_rolled, edge_failed) = recorded(
        store,
        sync("prod", "a", SyncResult.APPLIED, 0),
        sync("prod", "b", SyncResult.BLOCKED, 1),
        sync("stage", "a", SyncResult.APPLIED, 2),
        sync("stage", "c", SyncResult.ROLLED_BACK, 3),
        sync("edge", "d", SyncResult.FAILED, 4),
    )
    at = T0 + timedelta(minutes=3, seconds=20)  # during the rolled-back sync
    rollback = RollbackRecord("stage", SHA["c"], SHA["a"], "5xx", at)
    rollback = replace(rollback, id=store.record_rollback(rollback))
    assert store.status() == [
        TargetStatus("edge", None, edge_failed),
        TargetStatus("prod", prod_applied, prod_blocked),
        TargetStatus("stage", stage_rolled, stage_rolled, rollback),
    ]
    edge, prod, stage = store.status()
    assert (edge.health, edge.commit, edge.since) == ("failed", None, None)
    assert (prod.health, prod.commit, prod.since) == ("blocked", SHA["a"], prod_applied.finished)
    assert (stage.health, stage.commit, stage.since) == ("rolled-back", SHA["a"], rollback.at)


def test_a_repository_url_is_stored_without_its_credentials(
    store: StateStore, store_url: str
) -> None:
    secret = "ghp_s3cr3tT0k3n"
    url = f"https://x-token:{secret}@git.example.com/m.git"
    store.record_sync(sync("t", "a", SyncResult.APPLIED, 0, repository=url))
    assert store.history()[0].repository == "https://git.example.com/m.git"
    with raw(store_url) as connection:
        rows = connection.exec_driver_sql("SELECT * FROM meshrc_syncs").all()
    assert secret not in repr(rows)


def test_migrations_build_the_schema_and_reopening_changes_nothing(
    store_url: str, tmp_path: Path
) -> None:
    for _ in range(2):
        open_store(store_url, tmp_path).close()
    with raw(store_url) as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        assert context.get_current_heads() == (HEAD,)
        assert compare_metadata(context, metadata) == []


def test_a_database_of_a_newer_meshrc_is_refused(store_url: str, tmp_path: Path) -> None:
    open_store(store_url, tmp_path).close()
    with raw(store_url) as connection:
        connection.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = '0099'")
    newer = rf"schema revision 0099, newer than .*\({HEAD}\): upgrade"
    with pytest.raises(StateError, match=newer):
        open_store(store_url, tmp_path)


def test_a_history_at_0003_gains_routing_diffs_and_keeps_its_syncs(
    store_url: str, tmp_path: Path
) -> None:
    """A database an older meshrc made: migrated as it opens, its syncs read with no diff."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with raw(store_url) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003_reverts")
        connection.exec_driver_sql(
            'INSERT INTO meshrc_syncs (target, "commit", result, started, finished, repository, '
            f"counts, findings, reverts) VALUES ('t', '{SHA['a']}', 'applied', "
            "'2024-05-02 09:00:00', '2024-05-02 09:00:30', '', '{}', '[]', '[\"x\"]')"
        )
    with open_store(store_url, tmp_path) as store:
        (old,) = store.history()
        assert (old.commit, old.reverts, old.routing_diff) == (SHA["a"], ["x"], None)
        diff = {"base": None, "hosts": []}
        store.record_sync(sync("t", "b", SyncResult.APPLIED, 1, routing_diff=diff))
        assert [r.routing_diff for r in store.history()] == [diff, None]


HEAD = ScriptDirectory(MIGRATIONS).get_current_head()
"""The newest migration this code ships."""

WRITER = """\
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from reconciler.state import SyncRecord, SyncResult, open_store

url, name, go = sys.argv[1:]
while not Path(go).exists():
    time.sleep(0.005)
with open_store(url, Path(go).parent) as store:
    for n in range(200):
        now = datetime.now(UTC)
        store.record_sync(SyncRecord(name, f"{n:040x}", SyncResult.APPLIED, now, now))
"""


def test_two_processes_writing_at_once_lose_nothing(store_url: str, tmp_path: Path) -> None:
    """Both also migrate the fresh database at the same moment."""
    go = tmp_path / "go"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, store_url, name, str(go)])
        for name in ("one", "two")
    ]
    go.touch()
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    with open_store(store_url, tmp_path) as store:
        records = store.history(limit=1000)
    assert len(records) == 400
    assert len({r.id for r in records}) == 400
    for name in ("one", "two"):
        commits = {r.commit for r in records if r.target == name}
        assert commits == {f"{n:040x}" for n in range(200)}


# --------------------------------------------------------------------------- errors


def test_an_unreachable_server_is_a_clear_error(postgres: Postgres, tmp_path: Path) -> None:
    closed = replace(postgres, port=free_port())
    with pytest.raises(StateError) as error:
        open_store(closed.url("meshrc"), tmp_path)
    message = str(error.value)
    assert f"postgresql://meshrc:***@127.0.0.1:{closed.port}/meshrc" in message
    assert "Connection refused" in message
    assert postgres.password not in message


def test_a_wrong_password_is_a_clear_error_without_it(postgres: Postgres, tmp_path: Path) -> None:
    wrong = "not-the-Password-42"
    with pytest.raises(StateError) as error:
        open_store(postgres.url("postgres", password=wrong), tmp_path)
    message = str(error.value)
    assert "password authentication failed" in message
    assert wrong not in message and "***" in message


def test_a_password_in_the_query_is_hidden_too(postgres: Postgres, tmp_path: Path) -> None:
    url = f"postgresql://meshrc@127.0.0.1:{free_port()}/db?password=hush-hush"
    with pytest.raises(StateError) as error:
        open_store(url, tmp_path)
    assert "hush-hush" not in str(error.value) and ":***@" in str(error.value)


def test_an_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    """Below a regular file: no user, root included, can create a folder there."""
    (tmp_path / "file").write_text("")
    with pytest.raises(StateError, match=f"state directory {tmp_path}/file/meshrc: Not a dir"):
        open_store(None, tmp_path / "file" / "meshrc")


def test_an_unopenable_sqlite_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "meshrc.db"
    with pytest.raises(StateError, match=f"state database {path}: unable to open database file"):
        open_store(f"sqlite:///{path}", tmp_path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not SQLite\n" * 100)
    with pytest.raises(StateError, match=f"state database {path}: file is not a database"):
        open_store(f"sqlite:///{path}", tmp_path)
    assert path.read_text() == "not SQLite\n" * 100


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:pw@h/db", "unsupported state database mysql://"),
        ("postgresql://u:pw@h:notaport/db", "not a database URL: postgresql://h:notaport/db"),
        ("a path, not a URL", "not a database URL: a path, not a URL"),
    ],
)
def test_a_url_meshrc_cannot_use_is_refused(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(StateError, match=message) as error:
        open_store(url, tmp_path)
    assert "pw" not in str(error.value)


def test_the_default_store_is_sqlite_in_the_state_dir(tmp_path: Path) -> None:
    with open_store(None, tmp_path / "a" / "b") as store:
        store.record_sync(sync("t", "a", SyncResult.APPLIED, 0))
    assert (tmp_path / "a" / "b" / "meshrc.db").is_file()
    with open_store(f"sqlite:///{tmp_path / 'a' / 'b' / 'meshrc.db'}", tmp_path) as store:
        assert len(store.history()) == 1
