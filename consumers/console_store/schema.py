"""The store's tables. One row per record consumed; the offsets consumed live beside the
rows and move in the same transaction, so the store never holds a row its offsets deny."""

from __future__ import annotations

import sqlite3

from intelbus.errors import IntelbusError

__all__ = ["SCHEMA_VERSION", "create"]

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Where to resume each partition: the offset after the last one stored.
CREATE TABLE IF NOT EXISTS consumed (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    decided_at INTEGER NOT NULL,          -- epoch milliseconds, UTC
    event_id TEXT NOT NULL, event_version INTEGER NOT NULL, event_kind TEXT NOT NULL,
    recipient TEXT NOT NULL, decision TEXT NOT NULL, policy_version TEXT NOT NULL,
    onward_transfer INTEGER NOT NULL, carried_eu_pnr INTEGER NOT NULL,
    delivered_eu_pnr INTEGER NOT NULL,
    record TEXT NOT NULL,                 -- the whole decision as JSON (the export's source)
    UNIQUE (topic, partition, offset)
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (decided_at);
CREATE INDEX IF NOT EXISTS decisions_event ON decisions (event_id, decided_at);
CREATE INDEX IF NOT EXISTS decisions_recipient ON decisions (recipient, decided_at);
CREATE INDEX IF NOT EXISTS decisions_decision ON decisions (decision, decided_at);
CREATE INDEX IF NOT EXISTS decisions_policy ON decisions (policy_version, decided_at);
-- A decision's lists, one row per item. Rules are few and each fires on many decisions: a
-- search by rule walks decisions in the order asked and looks up each one's rules (an index
-- by rule would first collect a third of the store). Authorizations are rare: found by id.
CREATE TABLE IF NOT EXISTS decision_rules (
    decision INTEGER NOT NULL REFERENCES decisions (id), rule TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decision_rules_decision ON decision_rules (decision, rule);
CREATE TABLE IF NOT EXISTS decision_authorizations (
    decision INTEGER NOT NULL REFERENCES decisions (id), authorization_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decision_authorizations_id
    ON decision_authorizations (authorization_id, decision);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    at_ms INTEGER NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL,
    UNIQUE (topic, partition, offset)
);
CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason, at_ms);
-- Records of the decisions topic that are not decisions: counted, for the chain page.
CREATE TABLE IF NOT EXISTS others (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    kind TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (topic, partition, offset)
);
"""


def create(connection: sqlite3.Connection) -> None:
    connection.executescript(_DDL)
    found = connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if found is None:
        connection.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
        )
        connection.commit()
    elif int(found[0]) != SCHEMA_VERSION:
        raise IntelbusError(
            f"the console store is of schema {found[0]}, this intelbus writes "
            f"{SCHEMA_VERSION}: rebuild it (`intelbus console rebuild`)"
        )
