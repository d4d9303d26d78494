"""The console's questions of the store: decisions matching a DecisionFilter (the audit
tool's own criteria), sorted and paged; an event's whole story; new decisions since a row;
counts for the report charts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from consumers.audit.query import DecisionFilter
from consumers.console_store.store import StoredDecision, millis
from intelbus.models import Decision

__all__ = [
    "COUNT_LIMIT",
    "SORTS",
    "Page",
    "counts",
    "dead_letters_by_reason",
    "decisions_over_time",
    "eu_pnr_transfers_by_month",
    "last_id",
    "newer_than",
    "search",
    "select_all",
    "story",
]

# What a result may be sorted by (name shown -> column); the row id breaks ties, so pages
# never overlap.
SORTS = {
    "decided": "decided_at",
    "event": "event_id",
    "recipient": "recipient",
    "decision": "decision",
    "policy": "policy_version",
}
# A result is counted up to here ("more than 1,000" beyond): counting a large result exactly
# would read all of it, for a figure nobody pages through.
COUNT_LIMIT = 1_000


@dataclass(frozen=True)
class Page:
    rows: list[StoredDecision]
    count: int  # matching rows, up to COUNT_LIMIT + 1
    has_next: bool


def _where(criteria: DecisionFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    values: list[Any] = []

    def equal(column: str, value: Any) -> None:
        if value is not None:
            clauses.append(f"{column} = ?")
            values.append(value)

    equal("event_id", criteria.event_id)
    equal("recipient", criteria.recipient)
    equal("decision", criteria.decision.value if criteria.decision else None)
    equal("policy_version", criteria.policy_version)
    equal("carried_eu_pnr", criteria.carried_eu_pnr)
    equal("delivered_eu_pnr", criteria.delivered_eu_pnr)
    if criteria.since is not None:
        clauses.append("decided_at >= ?")
        values.append(millis(criteria.since))
    if criteria.until is not None:
        clauses.append("decided_at < ?")
        values.append(millis(criteria.until))
    if criteria.rule is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM decision_rules WHERE decision = decisions.id AND rule = ?)"
        )
        values.append(criteria.rule)
    if criteria.authorization_id is not None:
        clauses.append(
            "id IN (SELECT decision FROM decision_authorizations WHERE authorization_id = ?)"
        )
        values.append(criteria.authorization_id)
    if criteria.delivered is not None:
        clauses.append("decision != ?" if criteria.delivered else "decision = ?")
        values.append(Decision.DENY.value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", values


def _order(sort: str, descending: bool, criteria: DecisionFilter) -> str:
    column = SORTS.get(sort, "decided_at")
    direction = "DESC" if descending else "ASC"
    if column != "decided_at" and (criteria.since or criteria.until):
        # A time range selects few rows: sort them, rather than walk the whole index of the
        # sort column (the planner's choice otherwise) testing each row against the range.
        column = f"{column} || ''"  # an expression: no index gives its order
    return f" ORDER BY {column} {direction}, id {direction}"


def search(
    db: sqlite3.Connection,
    criteria: DecisionFilter,
    *,
    sort: str = "decided",
    descending: bool = True,
    page: int = 0,
    size: int = 50,
) -> Page:
    where, values = _where(criteria)
    rows = db.execute(
        f"SELECT * FROM decisions{where}{_order(sort, descending, criteria)} LIMIT ? OFFSET ?",
        [*values, size + 1, page * size],
    ).fetchall()
    count = db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM decisions{where} LIMIT ?)",
        [*values, COUNT_LIMIT + 1],
    ).fetchone()[0]
    return Page([StoredDecision.of(r) for r in rows[:size]], count, len(rows) > size)


def select_all(
    db: sqlite3.Connection,
    criteria: DecisionFilter,
    sort: str = "decided",
    descending: bool = False,
) -> Iterator[StoredDecision]:
    """Every matching decision, for an export (streamed, never all in memory)."""
    where, values = _where(criteria)
    for row in db.execute(
        f"SELECT * FROM decisions{where}{_order(sort, descending, criteria)}", values
    ):
        yield StoredDecision.of(row)


def story(db: sqlite3.Connection, event_id: str) -> list[StoredDecision]:
    """Every decision about ``event_id``, in the order they were made."""
    rows = db.execute(
        "SELECT * FROM decisions WHERE event_id = ? ORDER BY decided_at, id", (event_id,)
    )
    return [StoredDecision.of(r) for r in rows]


def newer_than(db: sqlite3.Connection, row_id: int, limit: int = 100) -> list[StoredDecision]:
    rows = db.execute("SELECT * FROM decisions WHERE id > ? ORDER BY id LIMIT ?", (row_id, limit))
    return [StoredDecision.of(r) for r in rows]


def last_id(db: sqlite3.Connection) -> int:
    found = db.execute("SELECT max(id) FROM decisions").fetchone()[0]
    return int(found or 0)


_BUCKET = {"day": "%Y-%m-%d", "month": "%Y-%m"}


def decisions_over_time(
    db: sqlite3.Connection, by: str, bucket: str = "day"
) -> list[tuple[str, str, int]]:
    """(rule or recipient, period, count); a decision under no rule counts under '-'."""
    period = f"strftime('{_BUCKET[bucket]}', decided_at / 1000, 'unixepoch')"
    if by == "rule":
        query = (
            f"SELECT coalesce(r.rule, '-'), {period} AS p, count(*) FROM decisions d"
            " LEFT JOIN decision_rules r ON r.decision = d.id GROUP BY 1, p ORDER BY p, 1"
        )
    else:
        query = (
            f"SELECT recipient, {period} AS p, count(*) FROM decisions GROUP BY 1, p ORDER BY p, 1"
        )
    return [(str(a), str(b), int(c)) for a, b, c in db.execute(query)]


def eu_pnr_transfers_by_month(db: sqlite3.Connection) -> list[tuple[str, int]]:
    """Onward transfers of EU PNR that reached the recipient, per month."""
    rows = db.execute(
        "SELECT strftime('%Y-%m', decided_at / 1000, 'unixepoch') AS m, count(*) FROM decisions"
        " WHERE onward_transfer = 1 AND delivered_eu_pnr = 1 GROUP BY m ORDER BY m"
    )
    return [(str(m), int(c)) for m, c in rows]


def dead_letters_by_reason(db: sqlite3.Connection) -> list[tuple[str, int]]:
    rows = db.execute(
        "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY 2 DESC, 1"
    )
    return [(str(r), int(c)) for r, c in rows]


def counts(db: sqlite3.Connection) -> dict[str, int]:
    """How much the store holds: decisions, other records of the log, dead letters."""
    return {
        table: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        for table in ("decisions", "others", "dead_letters")
    }
