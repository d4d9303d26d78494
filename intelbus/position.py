"""Where a record sits in Kafka: topic, partition, offset — one type for every layer."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Message

__all__ = ["Position"]


@dataclass(frozen=True, slots=True, order=True)
class Position:
    topic: str
    partition: int
    offset: int

    @classmethod
    def of(cls, message: Message) -> Position:
        return cls(message.topic() or "", message.partition() or 0, message.offset() or 0)

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"
