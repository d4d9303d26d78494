"""Reading topics back in tests, with deadlines instead of sleeps."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, IsolationLevel, Message, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from intelbus import clients
from intelbus.settings import Settings

__all__ = ["read_all", "value_of"]


def _caught_up(consumer: Consumer, admin: AdminClient, partitions: list[TopicPartition]) -> bool:
    """Has the reader passed the last committed offset of every partition?"""
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    ends = admin.list_offsets(
        {TopicPartition(tp.topic, tp.partition): latest for tp in partitions},
        isolation_level=IsolationLevel.READ_COMMITTED,
        request_timeout=10,
    )
    positions = {(tp.topic, tp.partition): tp.offset for tp in consumer.position(partitions)}
    for tp, future in ends.items():
        end = future.result(timeout=15).offset
        position = positions[(tp.topic, tp.partition)]
        if end > 0 and position < end:  # an unread partition's position is negative
            return False
    return True


def read_all(
    settings: Settings, topics: str | list[str], expected: int, timeout: float = 60.0
) -> list[Message]:
    """Read every committed message of ``topics``: wait until at least ``expected`` arrived
    and the reader has caught up with the end of every partition (so extras cannot hide)."""
    consumer = clients.consumer(settings, f"test-reader-{uuid.uuid4()}", "test-reader")
    partitions = [
        TopicPartition(topic, p, OFFSET_BEGINNING)
        for topic in ([topics] if isinstance(topics, str) else topics)
        for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ]
    consumer.assign(partitions)
    admin = clients.admin(settings)
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            for message in consumer.consume(1000, 0.2):
                if message.error():
                    raise RuntimeError(f"reading {topics}: {message.error()}")
                messages.append(message)
            if len(messages) >= expected and _caught_up(consumer, admin, partitions):
                return messages
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"read {len(messages)} of {expected} expected messages from {topics} "
                    f"in {timeout:.0f}s"
                )
    finally:
        consumer.close()


def value_of(message: Message) -> bytes:
    value = message.value()
    assert isinstance(value, bytes), f"message at offset {message.offset()} has no value"
    return value
