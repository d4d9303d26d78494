"""Avro encoding without the registry, for tests of models and policy views."""

from __future__ import annotations

import io
import json
from typing import TypeVar

import fastavro

from intelbus import serde
from intelbus.models import Record
from intelbus.settings import Settings

__all__ = ["fastavro_round_trip"]

R = TypeVar("R", bound=Record)


def fastavro_round_trip(record: R) -> R:
    """Encode ``record`` with its schema and decode it back into its model."""
    schema = serde.expanded_schema(Settings().schemas_dir, record.avro_name)
    parsed = fastavro.parse_schema(json.loads(schema))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record.to_avro())
    buffer.seek(0)
    return type(record).model_validate(fastavro.schemaless_reader(buffer, parsed, parsed))
