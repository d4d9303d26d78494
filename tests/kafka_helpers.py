"""Reading topics back in tests, with deadlines instead of sleeps."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from intelbus import clients
from intelbus.settings import Settings

__all__ = ["read_all", "value_of"]


def _caught_up(consumer: Consumer, partitions: list[TopicPartition]) -> bool:
    for position in consumer.position(partitions):
        _, high = consumer.get_watermark_offsets(position, timeout=5, cached=False)
        if position.offset < 0 and high > 0:
            return False
        if position.offset >= 0 and position.offset < high:
            return False
    return True


def read_all(settings: Settings, topic: str, expected: int, timeout: float = 60.0) -> list[Message]:
    """Read every committed message of ``topic``: wait until at least ``expected`` arrived
    and the reader has caught up with the end of every partition (so extras cannot hide)."""
    consumer = clients.consumer(settings, f"test-reader-{uuid.uuid4()}", "test-reader")
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
    consumer.assign(partitions)
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            for message in consumer.consume(1000, 0.2):
                if message.error():
                    raise RuntimeError(f"reading {topic}: {message.error()}")
                messages.append(message)
            if len(messages) >= expected and _caught_up(consumer, partitions):
                return messages
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"read {len(messages)} of {expected} expected messages from {topic} "
                    f"in {timeout:.0f}s"
                )
    finally:
        consumer.close()


def value_of(message: Message) -> bytes:
    value = message.value()
    assert isinstance(value, bytes), f"message at offset {message.offset()} has no value"
    return value
