"""A recipient's feed as typed items: the delivered record and what policy did to it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message

from intelbus import serde
from intelbus.models import Lookout, OfficerSafetyAlert, Pointer, Record
from intelbus.settings import Settings

__all__ = ["FeedDecoder", "FeedItem", "header_map"]

ItemRecord = Lookout | OfficerSafetyAlert | Pointer


def header_map(message: Message) -> dict[str, str]:
    raw = message.headers() or []
    items = raw.items() if isinstance(raw, dict) else raw
    return {
        key: value.decode(errors="replace") if isinstance(value, bytes) else (value or "")
        for key, value in items
    }


def _split(value: str) -> tuple[str, ...]:
    return tuple(value.split(",")) if value else ()


@dataclass(frozen=True)
class FeedItem:
    """One delivery: ``record`` is whole, redacted (``removed`` names what), or a pointer."""

    record: ItemRecord
    decision: str
    rules: tuple[str, ...]
    removed: tuple[str, ...]
    decision_id: str
    topic: str
    partition: int
    offset: int
    timestamp: dt.datetime

    @property
    def event_id(self) -> str:
        return self.record.event_id


class FeedDecoder:
    """Decodes feed messages; the record type comes from each message's schema id."""

    def __init__(self, settings: Settings) -> None:
        client = serde.registry_client(settings)
        self._names = serde.SchemaNames(client)
        self._serdes: dict[str, serde.RecordSerde[Any]] = {
            model.avro_name: serde.RecordSerde(client, model, settings.schemas_dir)
            for model in (Lookout, OfficerSafetyAlert, Pointer)
        }

    def decode(self, message: Message) -> FeedItem:
        """Raise ValueError (or a serde error) when the message is not a feed delivery."""
        value = message.value() or b""
        schema_id = serde.schema_id_of(value)
        if schema_id is None:
            raise ValueError("not in the Confluent wire format")
        name = self._names.of(schema_id)
        reader = self._serdes.get(name)
        if reader is None:
            raise ValueError(f"a {name} does not belong in a feed")
        topic = message.topic() or ""
        record: Record = reader.deserialize(value, topic)
        assert isinstance(record, Lookout | OfficerSafetyAlert | Pointer)
        headers = header_map(message)
        _, millis = message.timestamp()
        return FeedItem(
            record=record,
            decision=headers.get("intelbus.decision", "deliver"),
            rules=_split(headers.get("intelbus.rules", "")),
            removed=_split(headers.get("intelbus.removed", "")),
            decision_id=headers.get("intelbus.decision-id", ""),
            topic=topic,
            partition=message.partition() or 0,
            offset=message.offset() or 0,
            timestamp=dt.datetime.fromtimestamp(millis / 1000, dt.UTC),
        )
