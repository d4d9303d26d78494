"""The one way bytes from Kafka become contract records: schema id -> record model.

The router (inbound events), the subscribers (feeds) and the audit tool (the decision log)
all read through :class:`ContractReader`. It accepts only the record types its caller
expects, bounds the size before decoding, and says exactly why it rejects a message: the
``reason`` of :class:`Rejected` is a stable code (the router's dead letter carries it). A
registry that cannot be reached is not bad input: that raises
:class:`~intelbus.serde.RegistryUnavailable`, so callers retry instead of rejecting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import ValidationError

from intelbus.models import Record
from intelbus.serde import (
    CONFLUENT_HEADER,
    FastCodec,
    UnknownSchemaId,
    WriterSchemas,
    registry_client,
)
from intelbus.settings import Settings

__all__ = ["ContractReader", "Decoded", "Rejected"]


class Rejected(Exception):
    """The message is not a valid record of the expected types; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Decoded:
    """A validated record and its Avro dict (wire names), decoded once."""

    record: Record
    fields: dict[str, Any]


class ContractReader:
    def __init__(self, codecs: Sequence[FastCodec], writers: WriterSchemas, max_bytes: int) -> None:
        self._codecs = {codec.model.avro_name: codec for codec in codecs}
        self._own = {codec.schema_id: codec for codec in codecs}
        self._writers = writers
        self._max_bytes = max_bytes
        self._expected = " or ".join(self._codecs)

    @classmethod
    def connect(
        cls,
        settings: Settings,
        models: Sequence[type[Record]],
        client: SchemaRegistryClient | None = None,
    ) -> ContractReader:
        """A reader of ``models`` whose schema ids come from the settings' registry."""
        client = client or registry_client(settings)
        return cls(
            [FastCodec.registered(client, model, settings.schemas_dir) for model in models],
            WriterSchemas(client),
            settings.max_event_bytes,
        )

    def codec(self, model: type[Record]) -> FastCodec:
        return self._codecs[model.avro_name]

    def read(self, value: bytes | None) -> Decoded:
        if not value:
            raise Rejected("empty", "the message has no value")
        if len(value) > self._max_bytes:
            raise Rejected("too-large", f"{len(value)} bytes; the limit is {self._max_bytes}")
        if len(value) < CONFLUENT_HEADER:
            raise Rejected("truncated", f"{len(value)} bytes is shorter than the 5-byte header")
        if value[0] != 0:
            raise Rejected("bad-magic-byte", f"first byte is {value[0]:#04x}, expected 0x00")
        schema_id = int.from_bytes(value[1:CONFLUENT_HEADER], "big")
        codec, writer = self._codec_for(schema_id)
        try:
            fields = codec.decode(value[CONFLUENT_HEADER:], writer)
        except Exception as error:  # fastavro raises many types on corrupt input
            raise Rejected("undecodable", f"{type(error).__name__}: {error}"[:500]) from None
        try:
            record = codec.model.model_validate(fields)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5]
            )
            raise Rejected("invalid-event", problems) from None
        return Decoded(record, fields)

    def _codec_for(self, schema_id: int) -> tuple[FastCodec, Any]:
        """Our codec for the record the id names, and the writer schema when it is not ours."""
        own = self._own.get(schema_id)
        if own is not None:
            return own, None
        try:
            name = self._writers.name(schema_id)
        except UnknownSchemaId as unknown:
            raise Rejected("unknown-schema-id", str(unknown)) from None
        codec = self._codecs.get(name)
        if codec is None:
            raise Rejected("wrong-schema", f"schema id {schema_id} is {name}, not {self._expected}")
        return codec, self._writers.parsed(schema_id)
