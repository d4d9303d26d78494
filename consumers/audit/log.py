"""The decision log as a reviewer reads it: every record of the decisions topic, decoded,
with its partition and offset. Kafka is the source of truth; nothing is cached locally."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from intelbus.models import ChainSeal, KeyRotation, PolicyDecision
from intelbus.position import Position
from intelbus.progress import Progress
from intelbus.reader import ContractReader, Rejected
from intelbus.settings import Settings
from intelbus.topic_reader import read_to_end

__all__ = ["Entry", "read_decision_log"]


@dataclass(frozen=True)
class Entry:
    """One record of the decisions topic."""

    position: Position
    decision: PolicyDecision | None = None
    seal: ChainSeal | None = None
    rotation: KeyRotation | None = None
    problem: str | None = None  # why the record could not be read


def read_decision_log(
    settings: Settings, topic: str, progress: Progress | None = None
) -> Iterator[Entry]:
    reader = ContractReader.connect(settings, (PolicyDecision, ChainSeal, KeyRotation))
    for message in read_to_end(settings, topic, progress.advance if progress else None):
        position = Position.of(message)
        try:
            record = reader.read(message.value()).record
        except Rejected as rejected:
            yield Entry(position, problem=str(rejected))
            continue
        if isinstance(record, PolicyDecision):
            yield Entry(position, decision=record)
        elif isinstance(record, ChainSeal):
            yield Entry(position, seal=record)
        else:
            assert isinstance(record, KeyRotation)
            yield Entry(position, rotation=record)
