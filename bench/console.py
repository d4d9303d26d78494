"""``python -m bench.console``: the compliance console's store.

- Search: the console's own search (consumers/console_store/search.py: a page of 50 and the
  count, capped at 1,000) over a store of 1,000,000 synthetic decisions (tests/console_helpers.py:
  five recipients, six rules, a year of decisions), for a mix of reviewers' questions (by
  event, recipient, rule, decision, authorization, policy version, time range; sorted; deep
  pages): p50/p95 in milliseconds, and per question.
- The same questions, the same SQL, on DuckDB holding the same rows (when ``duckdb`` is
  installed: ``make bench`` installs it), to say why the store is SQLite.
- Catch-up: the store's follower (as the reviewer, read_committed) copying decisions from
  the decisions topic of a namespace of its own on the local stack into an empty store:
  records per second.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import Namespace, drop_namespaces, percentiles
from consumers.audit.query import DecisionFilter
from consumers.console_store import search
from consumers.console_store.follow import Follower
from consumers.console_store.store import Store, open_reader
from intelbus.models import Decision
from intelbus.position import Position
from intelbus.settings import Settings
from intelbus.tables import table
from tests.console_helpers import RECIPIENTS, RULES, START, produce_decisions, synthetic_decisions

__all__ = ["build_store", "render_console", "run_console"]

_BATCH = 10_000
_ROUNDS = 20  # of each question
_POINTS = (50, 95, 99)
_TABLES = ("decisions", "decision_rules", "decision_authorizations")  # what search reads


def build_store(path: Path, rows: int) -> float:
    """A store of ``rows`` synthetic decisions, written as the follower writes them; rows/s."""
    store = Store(path)
    started = time.perf_counter()
    offset = 0
    for first in range(0, rows, _BATCH):
        batch = []
        for d in synthetic_decisions(min(_BATCH, rows - first), start=first):
            batch.append((Position("bench.decisions", offset % 6, offset // 6), d))
            offset += 1
        store.write(batch, [], [], {("bench.decisions", 0): offset})
    seconds = time.perf_counter() - started
    store.analyze()  # as the follower does after catching up
    store.close()
    return rows / seconds


def _questions(rows: int) -> dict[str, Callable[[random.Random], tuple[DecisionFilter, str, int]]]:
    """name -> a draw of (criteria, sort, page)."""
    span_s = rows * 30  # synthetic decisions are 30 s apart

    def week(r: random.Random, **criteria: Any) -> DecisionFilter:
        """``criteria`` in a week drawn at random."""
        since = START + dt.timedelta(seconds=r.randrange(max(1, span_s - 7 * 86400)))
        return DecisionFilter(since=since, until=since + dt.timedelta(days=7), **criteria)

    return {
        "newest, no filter": lambda r: (DecisionFilter(), "decided", 0),
        "by event": lambda r: (
            DecisionFilter(event_id=f"lk-{r.randrange(rows // 100)}"),
            "decided",
            0,
        ),
        "by recipient": lambda r: (DecisionFilter(recipient=r.choice(RECIPIENTS)), "decided", 0),
        "by rule": lambda r: (DecisionFilter(rule=r.choice(RULES)), "decided", 0),
        "by recipient and decision": lambda r: (
            DecisionFilter(recipient=r.choice(RECIPIENTS), decision=Decision.DENY),
            "decided",
            0,
        ),
        "by authorization": lambda r: (
            DecisionFilter(authorization_id=f"auth-{r.randrange(50)}"),
            "decided",
            0,
        ),
        "a week": lambda r: (week(r), "decided", 0),
        "policy version in a week": lambda r: (
            week(r, policy_version=f"policy-{r.randrange(4)}"),
            "decided",
            0,
        ),
        "by recipient, page 20": lambda r: (
            DecisionFilter(recipient=r.choice(RECIPIENTS)),
            "decided",
            20,
        ),
        "rule in a week, sorted by event": lambda r: (week(r, rule=r.choice(RULES)), "event", 0),
    }


def _timed(
    samples: dict[str, list[float]], questions: dict[str, Any], run: Callable[..., Any]
) -> None:
    draw = random.Random(7)
    for _ in range(_ROUNDS):
        for name, question in questions.items():
            criteria, sort, page = question(draw)
            started = time.perf_counter()
            run(criteria, sort, page)
            samples.setdefault(name, []).append((time.perf_counter() - started) * 1000)


def search_latency(path: Path, rows: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    with open_reader(path) as db:
        _timed(
            samples,
            _questions(rows),
            lambda c, s, p: search.search(db, c, sort=s, page=p),
        )
    return samples


def duckdb_latency(path: Path, rows: int, work: Path) -> dict[str, list[float]] | None:
    """The same tables and indexes in DuckDB, the same SQL (search.search runs on any
    DB-API connection whose rows it can read by column name)."""
    try:
        import duckdb  # noqa: PLC0415
    except ImportError:
        return None
    with open_reader(path) as db:
        ddl = [r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")]
    connection = duckdb.connect(str(work / "store.duckdb"))
    for name in _TABLES:
        with open_reader(path) as db:
            cursor = db.execute(f"SELECT * FROM {name}")
            columns = [c[0] for c in cursor.description]
            out = work / f"{name}.csv"
            with out.open("w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(columns)
                writer.writerows(cursor)
        connection.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_csv_auto(?, header=true)", [str(out)]
        )
    for statement in ddl:
        if statement.startswith("CREATE INDEX") and any(f" ON {t} " in statement for t in _TABLES):
            connection.execute(statement)
    samples: dict[str, list[float]] = {}
    adapter = _DuckRows(connection)
    _timed(
        samples,
        _questions(rows),
        lambda c, s, p: search.search(adapter, c, sort=s, page=p),  # type: ignore[arg-type]
    )
    connection.close()
    return samples


class _DuckRows:
    """Just enough of sqlite3.Connection for search.search: execute, rows by column name."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def execute(self, sql: str, values: Any = ()) -> _DuckCursor:
        return _DuckCursor(self.connection.execute(sql, list(values)))


class _DuckCursor:
    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.columns = [c[0] for c in cursor.description]

    def fetchall(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.cursor.fetchall()]

    def fetchone(self) -> Any:
        return self.cursor.fetchone()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.fetchall())


def catch_up_rate(settings: Settings, records: int, work: Path) -> dict[str, float]:
    ns = Namespace.create(settings, "console")
    produce_decisions(ns.settings, ns.topics.decisions, list(synthetic_decisions(records)))
    reviewer = ns.as_principal(ns.principals.reviewer)
    store = Store(work / "catch-up.sqlite")
    follower = Follower(reviewer, store)
    started = time.perf_counter()
    stored = follower.catch_up()
    seconds = time.perf_counter() - started
    store.close()
    return {
        "records": stored,
        "seconds": round(seconds, 2),
        "records_per_s": round(stored / seconds),
    }


def _summary(samples: dict[str, list[float]]) -> dict[str, Any]:
    everything = [s for values in samples.values() for s in values]
    return {
        "all_ms": {k: round(v, 1) for k, v in percentiles(everything, _POINTS).items()},
        "by_question_p95_ms": {
            name: round(percentiles(values, _POINTS)["p95"], 1) for name, values in samples.items()
        },
    }


def run_console(
    settings: Settings, rows: int = 1_000_000, catch_up: int = 100_000
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="intelbus-bench-console-") as temporary:
        return _run_console(settings, rows, catch_up, Path(temporary))


def _run_console(settings: Settings, rows: int, catch_up: int, work: Path) -> dict[str, Any]:
    """In ``work``, removed afterwards: the stores take about 1 KiB per decision."""
    print(f"console: a store of {rows:,} decisions ...", file=sys.stderr, flush=True)
    write_rate = build_store(work / "store.sqlite", rows)
    print("console: search latency (SQLite) ...", file=sys.stderr, flush=True)
    results: dict[str, Any] = {
        "rows": rows,
        "store_write_rows_per_s": round(write_rate),
        "store_mib": round((work / "store.sqlite").stat().st_size / 2**20),
        "sqlite": _summary(search_latency(work / "store.sqlite", rows)),
    }
    print("console: search latency (DuckDB) ...", file=sys.stderr, flush=True)
    duck = duckdb_latency(work / "store.sqlite", rows, work)
    if duck is not None:
        results["duckdb"] = _summary(duck)
    print(
        f"console: catch-up of {catch_up:,} decisions from Kafka ...", file=sys.stderr, flush=True
    )
    results["catch_up"] = catch_up_rate(settings, catch_up, work)
    return results


def render_console(results: dict[str, Any]) -> str:
    engines = [e for e in ("sqlite", "duckdb") if e in results]
    rows = [
        [question, *(results[e]["by_question_p95_ms"][question] for e in engines)]
        for question in results["sqlite"]["by_question_p95_ms"]
    ]
    for name in ("p50", "p95", "p99"):
        rows.append([f"all questions {name}", *(results[e]["all_ms"][name] for e in engines)])
    catch = results["catch_up"]
    return "\n".join(
        [
            f"console search over {results['rows']:,} stored decisions (a page of 50 and the "
            f"count; p95 ms per question; store {results['store_mib']} MiB, written at "
            f"{results['store_write_rows_per_s']:,} rows/s)",
            table(["question", *engines], rows),
            f"console store catch-up from Kafka: {catch['records']:,} records in "
            f"{catch['seconds']} s ({catch['records_per_s']:,} records/s)",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--catch-up", type=int, default=100_000)
    args = parser.parse_args()
    try:
        print(render_console(run_console(Settings(), args.rows, args.catch_up)))
    finally:
        drop_namespaces(Settings())  # the catch-up run's topics: the stack is shared


if __name__ == "__main__":
    main()
