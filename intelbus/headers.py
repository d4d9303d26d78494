"""The headers the bus puts on its messages, named and parsed in one place.

A delivery on a feed or alerts topic says what policy did to it; a dead letter says why the
router rejected its input; a parked message says why a subscriber could not process it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from confluent_kafka import Message

__all__ = [
    "DeadLetterHeaders",
    "DeliveryHeaders",
    "Headers",
    "ParkedHeaders",
    "header_map",
]

Headers = list[tuple[str, str | bytes | None]]

_MAX_TEXT = 2000  # error details are cut: a header is evidence, not a log


def header_map(message: Message) -> dict[str, str]:
    raw = message.headers() or []
    items = raw.items() if isinstance(raw, dict) else raw
    return {
        key: value.decode(errors="replace") if isinstance(value, bytes) else (value or "")
        for key, value in items
    }


def _split(value: str) -> tuple[str, ...]:
    return tuple(value.split(",")) if value else ()


@dataclass(frozen=True, slots=True)
class DeliveryHeaders:
    """What the router did to one delivery, and the decision record that says so."""

    EVENT_ID = "intelbus.event-id"
    DECISION = "intelbus.decision"
    RULES = "intelbus.rules"
    REMOVED = "intelbus.removed"
    DECISION_ID = "intelbus.decision-id"
    POLICY_VERSION = "intelbus.policy-version"

    event_id: str
    decision: str
    rules: tuple[str, ...]
    removed: tuple[str, ...]
    decision_id: str
    policy_version: str

    def encode(self) -> Headers:
        return [
            (self.EVENT_ID, self.event_id.encode()),
            (self.DECISION, self.decision.encode()),
            (self.RULES, ",".join(self.rules).encode()),
            (self.REMOVED, ",".join(self.removed).encode()),
            (self.DECISION_ID, self.decision_id.encode()),
            (self.POLICY_VERSION, self.policy_version.encode()),
        ]

    @classmethod
    def decode(cls, headers: dict[str, str]) -> Self:
        return cls(
            event_id=headers.get(cls.EVENT_ID, ""),
            decision=headers.get(cls.DECISION, "deliver"),
            rules=_split(headers.get(cls.RULES, "")),
            removed=_split(headers.get(cls.REMOVED, "")),
            decision_id=headers.get(cls.DECISION_ID, ""),
            policy_version=headers.get(cls.POLICY_VERSION, ""),
        )


@dataclass(frozen=True, slots=True)
class DeadLetterHeaders:
    """Why the router rejected an input, where it came from, and which router did."""

    REASON = "intelbus.dlq.reason"
    DETAIL = "intelbus.dlq.detail"
    SOURCE = "intelbus.dlq.source"
    ROUTER = "intelbus.dlq.router"

    reason: str
    detail: str
    source: str
    router: str

    def encode(self) -> Headers:
        return [
            (self.REASON, self.reason.encode()),
            (self.DETAIL, self.detail.encode(errors="replace")[:_MAX_TEXT]),
            (self.SOURCE, self.source.encode()),
            (self.ROUTER, self.router.encode()),
        ]

    @classmethod
    def decode(cls, headers: dict[str, str]) -> Self:
        return cls(
            reason=headers.get(cls.REASON, "?"),
            detail=headers.get(cls.DETAIL, ""),
            source=headers.get(cls.SOURCE, "?"),
            router=headers.get(cls.ROUTER, "?"),
        )


@dataclass(frozen=True, slots=True)
class ParkedHeaders:
    """Why a subscriber parked a delivery after its retries, added to the original headers."""

    ERROR = "intelbus.parked.error"
    ATTEMPTS = "intelbus.parked.attempts"
    SOURCE = "intelbus.parked.source"
    GROUP = "intelbus.parked.group"

    error: str
    attempts: int
    source: str
    group: str

    def encode(self) -> Headers:
        return [
            (self.ERROR, self.error[:_MAX_TEXT]),
            (self.ATTEMPTS, str(self.attempts)),
            (self.SOURCE, self.source),
            (self.GROUP, self.group),
        ]

    @classmethod
    def decode(cls, headers: dict[str, str]) -> Self:
        return cls(
            error=headers.get(cls.ERROR, "?"),
            attempts=int(headers.get(cls.ATTEMPTS, "0") or 0),
            source=headers.get(cls.SOURCE, "?"),
            group=headers.get(cls.GROUP, "?"),
        )
