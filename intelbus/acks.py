"""What became of every event a publisher sent: the ack log (JSON lines, one per event).

An event is ``acked`` (the broker acknowledged it at a topic, partition and offset),
``failed`` (the publisher got an error saying why) or ``unknown`` (no answer before the
publisher gave up). A load generator (producers/load.py) writes it; the exactly-once checker
(consumers/checker) reads it: every acknowledged event must be on the bus and decided for
every recipient exactly once, and nothing may stay unknown.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from intelbus.jsonlines import read_models
from intelbus.position import Position

__all__ = ["Ack", "AckStatus", "AckWriter", "read_acks"]

_MAX_LINE = 8192  # an ack is ~200 bytes; a longer line is not one
_MAX_TEXT = 2000


class AckStatus(StrEnum):
    ACKED = "acked"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Ack(BaseModel):
    """One event's outcome; ``seq`` is the order the publisher sent it in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(min_length=1, max_length=200)
    seq: int = Field(ge=0)
    status: AckStatus
    topic: str | None = Field(default=None, max_length=300)
    partition: int | None = Field(default=None, ge=0)
    offset: int | None = Field(default=None, ge=0)
    error: str | None = Field(default=None, max_length=_MAX_TEXT)

    @model_validator(mode="after")
    def _acked_has_a_position(self) -> Self:
        if self.status is AckStatus.ACKED and self.position is None:
            raise ValueError("an acked event needs its topic, partition and offset")
        if self.status is AckStatus.FAILED and not self.error:
            raise ValueError("a failed event needs its error")
        return self

    @property
    def position(self) -> Position | None:
        if self.topic is None or self.partition is None or self.offset is None:
            return None
        return Position(self.topic, self.partition, self.offset)


class AckWriter:
    """Appends acks to ``path``, one JSON object per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, ack: Ack) -> None:
        self._file.write(ack.model_dump_json(exclude_none=True) + "\n")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AckWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def read_acks(path: Path) -> Iterator[Ack]:
    """Every ack of ``path``; a line that is not one is an error naming the line and why."""
    return read_models(path, Ack, max_line=_MAX_LINE, what="ack log")
