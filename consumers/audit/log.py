"""The decision log as a reviewer reads it: every record of the decisions topic, decoded,
with its partition and offset. Kafka is the source of truth; nothing is cached locally."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from intelbus import serde
from intelbus.models import ChainSeal, PolicyDecision
from intelbus.progress import Progress
from intelbus.settings import Settings
from intelbus.topic_reader import read_to_end

__all__ = ["Entry", "read_decision_log"]


@dataclass(frozen=True)
class Entry:
    """One record of the decisions topic."""

    topic: str
    partition: int
    offset: int
    decision: PolicyDecision | None = None
    seal: ChainSeal | None = None
    problem: str | None = None  # why the record could not be read


def read_decision_log(
    settings: Settings, topic: str, progress: Progress | None = None
) -> Iterator[Entry]:
    client = serde.registry_client(settings)
    names = serde.SchemaNames(client)
    readers: dict[str, serde.RecordSerde[Any]] = {
        model.avro_name: serde.RecordSerde(client, model, settings.schemas_dir)
        for model in (PolicyDecision, ChainSeal)
    }
    for message in read_to_end(settings, topic, progress.advance if progress else None):
        partition, offset = message.partition() or 0, message.offset() or 0
        value = message.value() or b""
        schema_id = serde.schema_id_of(value)
        try:
            if schema_id is None:
                raise ValueError("not in the Confluent wire format")
            name = names.of(schema_id)
            if name not in readers:
                raise ValueError(f"a {name} record does not belong in the decision log")
            record = readers[name].deserialize(value, topic)
        except (ValueError, serde.UnknownSchemaId) as error:
            yield Entry(topic, partition, offset, problem=str(error))
            continue
        except Exception as error:  # corrupt Avro raises many types
            yield Entry(
                topic, partition, offset, problem=f"undecodable: {type(error).__name__}: {error}"
            )
            continue
        if isinstance(record, PolicyDecision):
            yield Entry(topic, partition, offset, decision=record)
        else:
            assert isinstance(record, ChainSeal)
            yield Entry(topic, partition, offset, seal=record)
