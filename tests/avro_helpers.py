"""Avro encoding without the registry, for tests of models and policy views."""

from __future__ import annotations

import io
import json
from typing import TypeVar

import fastavro

from intelbus import serde
from intelbus.models import Record
from intelbus.settings import Settings

__all__ = ["avro_long", "fastavro_round_trip"]

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
