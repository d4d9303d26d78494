"""A recipient's feed as typed items: the delivered record and what policy did to it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from confluent_kafka import Message

from intelbus.headers import DeliveryHeaders, header_map
from intelbus.models import (
    CaseOutcome,
    DeconflictionNotice,
    HitAnswer,
    HitReport,
    LifecycleNotice,
    Lookout,
    OfficerSafetyAlert,
    Pointer,
)
from intelbus.position import Position
from intelbus.reader import ContractReader
from intelbus.settings import Settings

__all__ = ["FEED_RECORDS", "FeedDecoder", "FeedItem"]

ItemRecord = (
    Lookout
    | OfficerSafetyAlert
    | Pointer
    | LifecycleNotice
    | CaseOutcome
    | HitReport
    | HitAnswer
    | DeconflictionNotice
)
FEED_RECORDS = (
    Lookout,
    OfficerSafetyAlert,
    Pointer,
    LifecycleNotice,
    CaseOutcome,
    HitReport,
    HitAnswer,
    DeconflictionNotice,
)


@dataclass(frozen=True)
class FeedItem:
    """One delivery: ``record`` is whole, redacted (``removed`` names what), a pointer, or a
    notice that an event delivered earlier is withdrawn or expired, or (to the originator) a
    case outcome on one of its events, a hit on one of them (to the originator) or the
    originator's answer (to the reporter)."""

    record: ItemRecord
    decision: str
    rules: tuple[str, ...]
    removed: tuple[str, ...]
    decision_id: str
    position: Position
    timestamp: dt.datetime

    @property
    def event_id(self) -> str:
        return self.record.event_id


class FeedDecoder:
    """Decodes feed messages; the record type comes from each message's schema id."""

    def __init__(self, settings: Settings) -> None:
        self._reader = ContractReader.connect(settings, FEED_RECORDS)

    def decode(self, message: Message) -> FeedItem:
        """Raise :class:`~intelbus.reader.Rejected` when the message is not a feed delivery."""
        record = self._reader.read(message.value()).record
        assert isinstance(record, ItemRecord)
        headers = DeliveryHeaders.decode(header_map(message))
        _, millis = message.timestamp()
        return FeedItem(
            record=record,
            decision=headers.decision,
            rules=headers.rules,
            removed=headers.removed,
            decision_id=headers.decision_id,
            position=Position.of(message),
            timestamp=dt.datetime.fromtimestamp(millis / 1000, dt.UTC),
        )
