"""The store file: rows written with their offsets in one transaction (``write``), and read
by any number of readers at once (WAL: readers never wait for the writer)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from consumers.console_store.schema import create
from intelbus.models import PolicyDecision
from intelbus.position import Position

__all__ = ["DeadLetter", "Other", "Store", "StoredDecision", "millis", "open_reader"]

Partition = tuple[str, int]


def millis(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass(frozen=True)
class StoredDecision:
    id: int  # the store's row id: increases in the order rows were stored
    position: Position
    decision: PolicyDecision

    @classmethod
    def of(cls, row: sqlite3.Row) -> StoredDecision:
        return cls(
            row["id"],
            Position(row["topic"], row["partition"], row["offset"]),
            PolicyDecision.model_validate_json(row["record"]),
        )


@dataclass(frozen=True)
class DeadLetter:
    position: Position
    at_ms: int
    reason: str
    source: str


@dataclass(frozen=True)
class Other:
    """A record of the decisions topic that is no decision: a seal, a key rotation, or one
    that could not be read (``detail`` says why)."""

    position: Position
    kind: str
    detail: str


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    connection = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    return connection


@contextmanager
def open_reader(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the store (which must exist)."""
    with closing(_connect(path, readonly=True)) as connection:
        yield connection


class Store:
    """The writer's side: one writer per store file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = _connect(path, readonly=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a transaction reported committed survives a power cut, offsets included.
        self._db.execute("PRAGMA synchronous=FULL")
        create(self._db)

    def close(self) -> None:
        self._db.close()

    def analyze(self) -> None:
        """Statistics for the query planner: without them it may walk a whole index in the
        order asked (by event, say) instead of the few rows a time range selects."""
        with self._db:
            self._db.execute("ANALYZE")

    def offsets(self) -> dict[Partition, int]:
        """The next offset to read of every partition stored so far."""
        rows = self._db.execute("SELECT topic, partition, next_offset FROM consumed")
        return {(topic, partition): offset for topic, partition, offset in rows}

    def write(
        self,
        decisions: Iterable[tuple[Position, PolicyDecision]],
        dead_letters: Iterable[DeadLetter],
        others: Iterable[Other],
        next_offsets: Mapping[Partition, int],
    ) -> None:
        """Store the rows and move the offsets, all or nothing."""
        db = self._db
        with db:  # one transaction: committed on success, rolled back on any error
            for position, d in decisions:
                cursor = db.execute(
                    "INSERT INTO decisions (topic, partition, offset, decided_at, event_id,"
                    " event_version, event_kind, recipient, decision, policy_version,"
                    " onward_transfer, carried_eu_pnr, delivered_eu_pnr, record)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        position.topic,
                        position.partition,
                        position.offset,
                        millis(d.decided_at),
                        d.event_id,
                        d.event_version,
                        d.event_kind.value,
                        d.recipient,
                        d.decision.value,
                        d.policy_version,
                        d.onward_transfer,
                        d.carried_eu_pnr,
                        d.delivered_eu_pnr,
                        d.model_dump_json(by_alias=True),
                    ),
                )
                row = cursor.lastrowid
                db.executemany(
                    "INSERT INTO decision_rules (decision, rule) VALUES (?, ?)",
                    [(row, rule) for rule in d.rules],
                )
                db.executemany(
                    "INSERT INTO decision_authorizations (decision, authorization_id)"
                    " VALUES (?, ?)",
                    [(row, authorization) for authorization in d.authorization_ids],
                )
            db.executemany(
                "INSERT INTO dead_letters (topic, partition, offset, at_ms, reason, source)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        x.position.topic,
                        x.position.partition,
                        x.position.offset,
                        x.at_ms,
                        x.reason,
                        x.source,
                    )
                    for x in dead_letters
                ],
            )
            db.executemany(
                "INSERT INTO others (topic, partition, offset, kind, detail)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (x.position.topic, x.position.partition, x.position.offset, x.kind, x.detail)
                    for x in others
                ],
            )
            db.executemany(
                "INSERT INTO consumed (topic, partition, next_offset) VALUES (?, ?, ?)"
                " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                [(topic, partition, offset) for (topic, partition), offset in next_offsets.items()],
            )
