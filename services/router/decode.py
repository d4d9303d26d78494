"""Turn inbound bytes into a validated event, or say exactly why not.

Bad input is rejected with a reason code the dead letter carries in its headers; it never
stops the bus. A registry that cannot be reached is not bad input: that raises
:class:`RegistryUnavailable` so the router retries instead of dead-lettering good events.
"""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from pydantic import ValidationError

from intelbus.policy.engine import Event
from intelbus.serde import RecordSerde

__all__ = ["EventDecoder", "RegistryUnavailable", "Rejected"]

_HEADER = 5  # magic byte + 4-byte schema id (Confluent wire format)


class Rejected(Exception):
    """The message cannot become an event; ``reason`` is a stable code for the dead letter."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class RegistryUnavailable(Exception):
    """The schema registry did not answer; retry later, do not dead-letter."""


class EventDecoder:
    def __init__(
        self, client: SchemaRegistryClient, serde: RecordSerde[Any], max_bytes: int
    ) -> None:
        self._client = client
        self._serde = serde
        self._expected = serde.model.avro_name
        self._max_bytes = max_bytes
        self._schema_names: dict[int, str] = {}

    def decode(self, value: bytes | None, topic: str) -> tuple[Event, dict[str, Any]]:
        """The validated event and its Avro dict (decoded once, reused for every view)."""
        if not value:
            raise Rejected("empty", "the message has no value")
        if len(value) > self._max_bytes:
            raise Rejected("too-large", f"{len(value)} bytes; the limit is {self._max_bytes}")
        if len(value) < _HEADER:
            raise Rejected("truncated", f"{len(value)} bytes is shorter than the 5-byte header")
        if value[0] != 0:
            raise Rejected("bad-magic-byte", f"first byte is {value[0]:#04x}, expected 0x00")
        schema_id = int.from_bytes(value[1:_HEADER], "big")
        name = self._schema_name(schema_id)
        if name != self._expected:
            raise Rejected("wrong-schema", f"schema id {schema_id} is {name}, not {self._expected}")
        try:
            record = self._serde.deserialize_dict(value, topic)
        except RegistryUnavailable:
            raise
        except Exception as error:  # fastavro raises many types on corrupt input
            raise Rejected("undecodable", f"{type(error).__name__}: {error}"[:500]) from None
        try:
            event = self._serde.model.model_validate(record)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5]
            )
            raise Rejected("invalid-event", problems) from None
        return event, record

    def _schema_name(self, schema_id: int) -> str:
        name = self._schema_names.get(schema_id)
        if name is not None:
            return name
        try:
            schema = self._client.get_schema(schema_id)
        except SchemaRegistryError as error:
            if error.http_status_code == 404:
                raise Rejected(
                    "unknown-schema-id", f"the registry has no schema {schema_id}"
                ) from None
            raise RegistryUnavailable(str(error)) from error
        except Exception as error:  # connection refused, timeout, DNS
            raise RegistryUnavailable(f"{type(error).__name__}: {error}") from error
        parsed = json.loads(schema.schema_str or "{}")
        name = (
            f"{parsed.get('namespace', '')}.{parsed.get('name', '?')}"
            if isinstance(parsed, dict)
            else "?"
        )
        self._schema_names[schema_id] = name
        return name
