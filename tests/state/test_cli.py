"""``meshrc history`` and ``meshrc status`` through click's CliRunner, on a SQLite history
(the store's own tests cover PostgreSQL): tables, JSON, filters, empty histories, colour, and
exit code 2 when the history cannot be read."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from cli.helpers import invoke, no_traceback

from reconciler.state import RollbackRecord, SyncResult, open_store

from .test_store import SHA, T0, sync


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A history with a rolled-back, a blocked and a failed target, in the default file."""
    folder = tmp_path / "state"
    counts = {"deleted": 0, "created": 3, "unchanged": 7, "configured": 1}
    with open_store(None, folder) as store:
        for record in (
            sync("prod", "a", SyncResult.APPLIED, 0, author="Ana Lima <a@x.org>", counts=counts),
            sync("prod", "b", SyncResult.ROLLED_BACK, 1, error="5xx rate 12%\nper route: ..."),
            sync("stage", "c", SyncResult.BLOCKED, 2, findings=[{"code": "x"}, {"code": "y"}]),
            sync("edge", "d", SyncResult.FAILED, 3, error="\x1b[31mred\x1b[0m"),
        ):
            store.record_sync(record)
        at = T0 + timedelta(minutes=1, seconds=20)
        store.record_rollback(RollbackRecord("prod", SHA["b"], SHA["a"], "5xx", at))
    return folder


def test_history_prints_a_table_newest_first(state_dir: Path) -> None:
    result = invoke(["history", "--state-dir", str(state_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "TIME (UTC)           TARGET  RESULT       COMMIT        AUTHOR    SUMMARY\n"
        "2024-05-02 09:03:30  edge    failed       dddddddddddd  -         \\x1b[31mred\\x1b[0m\n"
        "2024-05-02 09:02:30  stage   blocked      cccccccccccc  -         2 findings\n"
        "2024-05-02 09:01:30  prod    rolled-back  bbbbbbbbbbbb  -         5xx rate 12%\n"
        "2024-05-02 09:00:30  prod    applied      aaaaaaaaaaaa  Ana Lima  "
        "3 created, 1 configured, 7 unchanged\n"
    )


def test_history_json_has_every_field(state_dir: Path) -> None:
    result = invoke(["history", "--state-dir", str(state_dir), "-o", "json", "--target", "prod"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["result"], r["commit"]) for r in rows] == [
        ("rolled-back", SHA["b"]),
        ("applied", SHA["a"]),
    ]
    assert rows[1]["started"] == "2024-05-02T09:00:00.123456+00:00"
    assert rows[1]["counts"] == {"deleted": 0, "created": 3, "unchanged": 7, "configured": 1}
    assert set(rows[1]) == {
        "id", "target", "commit", "result", "started", "finished", "repository", "ref",
        "author", "message", "content_hash", "counts", "findings", "error", "reverts",
        "routing_diff",
    }  # fmt: skip


def test_history_filters_by_target_and_limits(state_dir: Path) -> None:
    result = invoke(["history", "--state-dir", str(state_dir), "--target", "prod", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "2024-05-02 09:01:30  prod    rolled-back  bbbbbbbbbbbb  -       5xx rate 12%"
    ]


def test_an_empty_history_says_so(tmp_path: Path) -> None:
    for args, said in [
        (["history"], "no syncs recorded\n"),
        (["history", "--target", "prod"], "no syncs recorded for target prod\n"),
        (["status"], "no target synced yet\n"),
    ]:
        result = invoke([*args, "--state-dir", str(tmp_path)])
        assert (result.exit_code, result.stdout, result.stderr) == (0, "", said)
        result = invoke([*args, "-o", "json"], env={"MESHRC_STATE_DIR": str(tmp_path)})
        assert (result.exit_code, result.stdout) == (0, "[]\n")


def test_status_prints_each_target_with_its_health(state_dir: Path) -> None:
    result = invoke(["status"], env={"MESHRC_STATE": f"sqlite:///{state_dir / 'meshrc.db'}"})
    assert result.exit_code == 0, result.output
    assert [" ".join(line.split()) for line in result.stdout.splitlines()] == [
        "TARGET HEALTH COMMIT SINCE (UTC) LAST SYNC OF AT (UTC)",
        "edge failed - - failed dddddddddddd 2024-05-02 09:03",
        "prod rolled-back aaaaaaaaaaaa 2024-05-02 09:01 rolled-back bbbbbbbbbbbb 2024-05-02 09:01",
        "stage blocked - - blocked cccccccccccc 2024-05-02 09:02",
    ]


def test_status_json(state_dir: Path) -> None:
    result = invoke(["status", "--state-dir", str(state_dir), "-o", "json"])
    assert result.exit_code == 0, result.output
    prod = json.loads(result.stdout)[1]
    assert (prod["target"], prod["health"], prod["commit"]) == ("prod", "rolled-back", SHA["a"])
    assert prod["since"] == "2024-05-02T09:01:20.123456+00:00"
    assert (prod["applied"]["result"], prod["last"]["commit"]) == ("rolled-back", SHA["b"])
    assert prod["rollback"]["reason"] == "5xx"


def test_colour_only_when_asked_or_on_a_terminal(state_dir: Path) -> None:
    plain = invoke(["status", "--state-dir", str(state_dir)])
    assert "\x1b[" not in plain.stdout
    coloured = invoke(["status", "--state-dir", str(state_dir), "--color", "always"])
    assert "\x1b[31mfailed     \x1b[0m" in coloured.stdout
    assert coloured.stdout.startswith("\x1b[1mTARGET")


@pytest.mark.parametrize(
    ("state", "said"),
    [
        ("mysql://u:pw@db/x", "unsupported state database mysql://"),
        ("sqlite:////nonexistent/folder/x.db", "unable to open database file"),
        ("postgresql://meshrc:pw@127.0.0.1:1/x", "postgresql://meshrc:***@127.0.0.1:1/x"),
    ],
)
@pytest.mark.parametrize("command", ["history", "status"])
def test_a_bad_state_exits_2(command: str, state: str, said: str, tmp_path: Path) -> None:
    result = invoke([command, "--state", state, "--state-dir", str(tmp_path)])
    no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr.startswith("meshrc: error: ") and said in result.stderr
    assert ":pw@" not in result.stderr


def test_help_teaches_with_examples() -> None:
    for command in ("history", "status"):
        result = invoke([command, "--help"])
        assert result.exit_code == 0
        assert "Examples:" in result.stdout and "Exit codes:" in result.stdout
        assert "MESHRC_STATE" in result.stdout and "MESHRC_STATE_DIR" in result.stdout
