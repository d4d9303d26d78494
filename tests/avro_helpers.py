"""Avro encoding without the registry, for tests of models and policy views, and writer
schemas of one's own registered under a fresh test subject."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any, TypeVar

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from intelbus import serde
from intelbus.models import Record
from intelbus.settings import Settings

__all__ = [
    "avro_long",
    "avro_string",
    "fastavro_round_trip",
    "framed",
    "register_writer",
    "schemaless",
]

R = TypeVar("R", bound=Record)


def fastavro_round_trip(record: R) -> R:
    """Encode ``record`` with its schema and decode it back into its model."""
    schema = serde.expanded_schema(Settings().schemas_dir, record.avro_name)
    parsed = fastavro.parse_schema(json.loads(schema))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record.to_avro())
    buffer.seek(0)
    return type(record).model_validate(fastavro.schemaless_reader(buffer, parsed, parsed))


def avro_long(value: int) -> bytes:
    """Avro's encoding of a long: zig-zag, then 7 bits a byte, least significant first."""
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def avro_string(text: str) -> bytes:
    data = text.encode()
    return avro_long(len(data)) + data


def schemaless(schema: Any, datum: Any) -> bytes:
    """``datum`` in Avro binary with ``schema`` (a schema dict or type name), unframed."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), datum)
    return buffer.getvalue()


def framed(schema_id: int, payload: bytes) -> bytes:
    """The Confluent wire format: magic byte 0, the 4-byte schema id, the payload."""
    return b"\x00" + schema_id.to_bytes(4, "big") + payload


def register_writer(client: SchemaRegistryClient, schema: Any, what: str) -> int:
    """Register ``schema`` under a fresh subject (any registry user could) and return its id."""
    subject = f"test-{uuid.uuid4().hex[:8]}-{what}"
    return client.register_schema(subject, Schema(json.dumps(schema), "AVRO"))
