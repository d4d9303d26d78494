"""The one way bytes from Kafka become contract records: schema id -> record model.

The router (inbound events), the subscribers (feeds) and the audit tool (the decision log)
all read through :class:`ContractReader`. It accepts only the record types its caller
expects, written with a pinned version of the contract (intelbus.contract: a foreign writer
schema is refused by fingerprint before anything is decoded with it), in the canonical
encoding and within bounds (intelbus.canonical, checked before fastavro allocates
anything). It says exactly why it rejects a message: the ``reason`` of :class:`Rejected` is
a stable code (the router's dead letter carries it), one of :data:`REASONS`. A registry that
cannot be reached is not bad input: that raises :class:`~intelbus.serde.RegistryUnavailable`,
so callers retry instead of rejecting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import ValidationError

from intelbus.canonical import Malformed
from intelbus.contract import Version, load_contract
from intelbus.models import Record
from intelbus.serde import (
    CONFLUENT_HEADER,
    FastCodec,
    UnknownSchemaId,
    WriterSchemas,
    fingerprint,
    registry_client,
)
from intelbus.settings import Settings

__all__ = ["REASONS", "ContractReader", "Decoded", "Rejected"]

REASONS = (
    "empty",
    "too-large",
    "truncated",
    "bad-magic-byte",
    "unknown-schema-id",
    "foreign-schema",  # not a pinned version of the contract
    "wrong-schema",  # a version of another record than the caller reads
    "too-many-items",
    "undecodable",
    "non-canonical",
    "trailing-bytes",
    "invalid-event",
)


class Rejected(Exception):
    """The message is not a valid record of the expected types; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Decoded:
    """A validated record, its Avro dict (wire names), decoded once, and ``wire``: the record
    as our codec writes it (the input itself when it was written with our schema, which the
    canonical check proves byte for byte; re-encoded from ``fields`` otherwise)."""

    record: Record
    fields: dict[str, Any]
    wire: bytes


class ContractReader:
    def __init__(self, codecs: Sequence[FastCodec], writers: WriterSchemas, max_bytes: int) -> None:
        self._codecs = {codec.model.avro_name: codec for codec in codecs}
        self._writers = writers
        self._max_bytes = max_bytes
        self._expected = " or ".join(self._codecs)
        self._contract = load_contract(codecs[0].schemas_dir)
        self._ours = {codec.model.avro_name: fingerprint(codec.schema) for codec in codecs}
        # Our own schema ids need no registry: they are our texts, accepted pinned or not.
        self._own = {
            codec.schema_id: (codec, self._contract.versions[self._ours[codec.model.avro_name]])
            for codec in codecs
        }

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
        codec, writer = self._version_of(schema_id)
        payload = value[CONFLUENT_HEADER:]
        try:
            writer.check(payload)
        except Malformed as malformed:
            raise Rejected(malformed.reason, malformed.detail) from None
        ours = writer.fingerprint == self._ours[codec.model.avro_name]
        try:
            fields = codec.decode(payload, None if ours else writer.schema)
        except Exception as error:  # fastavro raises many types on corrupt input
            raise Rejected("undecodable", f"{type(error).__name__}: {error}"[:500]) from None
        try:
            record = codec.model.model_validate(fields)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5]
            )
            raise Rejected("invalid-event", problems) from None
        if not ours:
            wire = codec.encode(fields)
        elif schema_id == codec.schema_id:
            wire = value
        else:
            wire = codec.frame(payload)
        return Decoded(record, fields, wire)

    def _version_of(self, schema_id: int) -> tuple[FastCodec, Version]:
        """Our codec for the record the id names, and the pinned version it was written with."""
        own = self._own.get(schema_id)
        if own is not None:
            return own
        try:
            writer = self._writers.identify(schema_id)
        except UnknownSchemaId as unknown:
            raise Rejected("unknown-schema-id", str(unknown)) from None
        version = self._contract.accepted(writer.fingerprint)
        if version is None:
            raise Rejected(
                "foreign-schema",
                f"schema id {schema_id} ({writer.name}, fingerprint "
                f"{(writer.fingerprint or 'none')[:16]}) is not a pinned version of the contract",
            )
        codec = self._codecs.get(version.record)
        if codec is None:
            raise Rejected(
                "wrong-schema", f"schema id {schema_id} is {version.record}, not {self._expected}"
            )
        return codec, version
