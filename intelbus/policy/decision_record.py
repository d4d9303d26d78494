"""The decision record's content: what one recipient got of one event, and why."""

from __future__ import annotations

import datetime as dt
from typing import Any

from intelbus.policy.engine import Event, Verdict, event_kind

__all__ = ["decision_fields"]


def decision_fields(
    event: Event,
    verdict: Verdict,
    *,
    policy_version: str,
    decided_at: dt.datetime,
    source: tuple[str, int, int],
    feed_topic: str | None,
) -> dict[str, Any]:
    """The fields of an intelbus.PolicyDecision (Avro names) but its id and chain links."""
    topic, partition, offset = source
    return {
        "eventId": event.event_id,
        "eventVersion": event.version,
        "eventKind": event_kind(event).value,
        "recipient": verdict.recipient,
        "decision": verdict.decision.value,
        "rules": list(verdict.rules),
        "removedFields": list(verdict.removed_fields),
        "authorizationIds": list(verdict.authorization_ids),
        "onwardTransfer": verdict.onward_transfer,
        "carriedEuPnr": verdict.carried_eu_pnr,
        "deliveredEuPnr": verdict.delivered_eu_pnr,
        "notifications": list(verdict.notifications),
        "reason": verdict.reason,
        "policyVersion": policy_version,
        "decidedAt": decided_at,
        "sourceTopic": topic,
        "sourcePartition": partition,
        "sourceOffset": offset,
        "feedTopic": feed_topic,
    }
