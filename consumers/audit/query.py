"""Questions compliance reviewers ask of the decision log: filters, export, report."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from intelbus.jsonout import dumps
from intelbus.models import Decision, PolicyDecision

__all__ = ["DecisionFilter", "export", "report_rows"]

EXPORT_FIELDS = [
    "decidedAt",
    "eventId",
    "eventVersion",
    "eventKind",
    "recipient",
    "decision",
    "rules",
    "removedFields",
    "authorizationIds",
    "onwardTransfer",
    "carriedEuPnr",
    "deliveredEuPnr",
    "notifications",
    "reason",
    "policyVersion",
    "sourceTopic",
    "sourcePartition",
    "sourceOffset",
    "feedTopic",
    "decisionId",
    "chain",
    "sequence",
    "previousHash",
    "hash",
]


@dataclass(frozen=True)
class DecisionFilter:
    """Every criterion given must hold (None: any)."""

    event_id: str | None = None
    recipient: str | None = None
    rule: str | None = None
    decision: Decision | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    carried_eu_pnr: bool | None = None
    delivered_eu_pnr: bool | None = None
    authorization_id: str | None = None
    delivered: bool | None = None
    policy_version: str | None = None

    def matches(self, d: PolicyDecision) -> bool:
        checks = (
            self.event_id is None or d.event_id == self.event_id,
            self.recipient is None or d.recipient == self.recipient,
            self.rule is None or self.rule in d.rules,
            self.decision is None or d.decision is self.decision,
            self.since is None or d.decided_at >= self.since,
            self.until is None or d.decided_at < self.until,
            self.carried_eu_pnr is None or d.carried_eu_pnr == self.carried_eu_pnr,
            self.delivered_eu_pnr is None or d.delivered_eu_pnr == self.delivered_eu_pnr,
            self.authorization_id is None or self.authorization_id in d.authorization_ids,
            self.delivered is None or (d.decision is not Decision.DENY) == self.delivered,
            self.policy_version is None or d.policy_version == self.policy_version,
        )
        return all(checks)

    def select(self, decisions: Iterable[PolicyDecision]) -> Iterator[PolicyDecision]:
        return (d for d in decisions if self.matches(d))


def _flat(d: PolicyDecision) -> dict[str, Any]:
    record = d.to_avro()
    record["decision"] = d.decision.label
    return record


def export(decisions: Iterable[PolicyDecision], fmt: str) -> Iterator[str]:
    """CSV (a header, then one row per decision; lists joined by ';') or JSON lines."""
    if fmt == "json":
        for d in decisions:
            yield dumps(_flat(d))
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for d in decisions:
        row = _flat(d)
        for name, value in row.items():
            if isinstance(value, list):
                row[name] = ";".join(value)
            elif isinstance(value, dt.datetime):
                row[name] = value.isoformat()
        writer.writerow(row)
        yield buffer.getvalue().rstrip("\n")
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue().rstrip("\n")


def report_rows(decisions: Iterable[PolicyDecision]) -> list[tuple[str, str, str, int]]:
    """Counts per (recipient, decision, rule); a decision under no rule counts as '-'."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for d in decisions:
        for rule in d.rules or ["-"]:
            counts[(d.recipient, d.decision.label, rule)] += 1
    return sorted((*key, count) for key, count in counts.items())
