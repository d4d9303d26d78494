"""Turn inbound bytes into a validated event, or say exactly why not.

Bad input is rejected with a reason code the dead letter carries in its headers; it never
stops the bus. A registry that cannot be reached is not bad input: that raises
:class:`RegistryUnavailable` so the router retries instead of dead-lettering good events.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import ValidationError

from intelbus.models import Lookout, OfficerSafetyAlert
from intelbus.policy.engine import Event
from intelbus.serde import (
    CONFLUENT_HEADER,
    FastCodec,
    RegistryUnavailable,
    SchemaNames,
    UnknownSchemaId,
)

__all__ = ["EventDecoder", "RegistryUnavailable", "Rejected"]


class Rejected(Exception):
    """The message cannot become an event; ``reason`` is a stable code for the dead letter."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class EventDecoder:
    def __init__(self, client: SchemaRegistryClient, codec: FastCodec, max_bytes: int) -> None:
        self._names = SchemaNames(client)
        self._codec = codec
        self._expected = codec.model.avro_name
        self._max_bytes = max_bytes

    def decode(self, value: bytes | None) -> tuple[Event, dict[str, Any]]:
        """The validated event and its Avro dict (decoded once, reused for every view)."""
        if not value:
            raise Rejected("empty", "the message has no value")
        if len(value) > self._max_bytes:
            raise Rejected("too-large", f"{len(value)} bytes; the limit is {self._max_bytes}")
        if len(value) < CONFLUENT_HEADER:
            raise Rejected("truncated", f"{len(value)} bytes is shorter than the 5-byte header")
        if value[0] != 0:
            raise Rejected("bad-magic-byte", f"first byte is {value[0]:#04x}, expected 0x00")
        schema_id = int.from_bytes(value[1:CONFLUENT_HEADER], "big")
        try:
            name = self._names.of(schema_id)
        except UnknownSchemaId as unknown:
            raise Rejected("unknown-schema-id", str(unknown)) from None
        if name != self._expected:
            raise Rejected("wrong-schema", f"schema id {schema_id} is {name}, not {self._expected}")
        try:
            record = self._codec.decode(value)
        except Exception as error:  # fastavro raises many types on corrupt input
            raise Rejected("undecodable", f"{type(error).__name__}: {error}"[:500]) from None
        try:
            event = self._codec.model.model_validate(record)
            assert isinstance(event, Lookout | OfficerSafetyAlert)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5]
            )
            raise Rejected("invalid-event", problems) from None
        return event, record
