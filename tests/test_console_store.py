"""The console's store of the decision log on a real broker: it holds every record of the
decisions and dead-letter topics exactly once, also when its process is killed in the middle
of catching up and started again, and it can be rebuilt from the topics."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from cli import main
from consumers.console_store.store import open_reader
from intelbus.position import Position
from intelbus.waiting import wait_for
from tests.conftest import Bus
from tests.console_helpers import console_process, produce_decisions, synthetic_decisions

RECORDS = 20_000


def _stored(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with open_reader(path) as db:
            return int(db.execute("SELECT count(*) FROM decisions").fetchone()[0])
    except sqlite3.OperationalError:  # the writer has not created the tables yet
        return 0


def _positions(path: Path) -> list[Position]:
    with open_reader(path) as db:
        rows = db.execute("SELECT topic, partition, offset FROM decisions").fetchall()
    return [Position(*row) for row in rows]


def test_killed_mid_catch_up_the_store_loses_and_duplicates_no_row(
    cli_env: Bus, tmp_path: Path
) -> None:
    records = list(synthetic_decisions(RECORDS))
    written = produce_decisions(cli_env.settings, cli_env.topics.decisions, records)
    store = tmp_path / "store.sqlite"

    first = console_process(tmp_path, "sync", "--batch", "100")
    at_kill = wait_for(
        lambda: _stored(store), timeout=120, what="the first rows stored", interval=0.01
    )
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    stored_at_kill = _stored(store)
    assert 0 < at_kill <= stored_at_kill < RECORDS, "the kill did not land mid-catch-up"

    second = console_process(tmp_path, "sync", "--batch", "100")
    try:
        wait_for(lambda: _stored(store) >= RECORDS, timeout=180, what="the store to catch up")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0, second.stderr.read().decode() if second.stderr else ""

    positions = _positions(store)
    assert len(positions) == len(set(positions)) == RECORDS
    assert set(positions) == written
    with open_reader(store) as db:
        ids = {
            row[0]
            for row in db.execute("SELECT json_extract(record, '$.decisionId') FROM decisions")
        }
    assert ids == {r.decision_id for r in records}


def test_rebuild_makes_the_same_store_again(
    cli_env: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = list(synthetic_decisions(500))
    written = produce_decisions(cli_env.settings, cli_env.topics.decisions, records)
    assert main(["console", "--dir", str(tmp_path), "rebuild"]) == 0
    assert set(_positions(tmp_path / "store.sqlite")) == written
    more = produce_decisions(
        cli_env.settings, cli_env.topics.decisions, list(synthetic_decisions(10, start=500))
    )
    assert main(["console", "--dir", str(tmp_path), "rebuild"]) == 0
    assert set(_positions(tmp_path / "store.sqlite")) == written | more
    assert "510 record(s)" in capsys.readouterr().err
