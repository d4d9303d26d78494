"""Read a topic from the beginning to where it ends now (read_committed), once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

from confluent_kafka import OFFSET_BEGINNING, IsolationLevel, Message, TopicPartition
from confluent_kafka.admin import OffsetSpec

from intelbus import clients
from intelbus.errors import IntelbusError
from intelbus.settings import Settings

__all__ = ["committed_ends", "read_to_end"]

_TIMEOUT_S = 30


def committed_ends(settings: Settings, topic: str) -> dict[int, int]:
    """The last stable offset of every partition: what a read_committed reader can reach."""
    admin = clients.admin(settings)
    metadata = admin.list_topics(topic, timeout=_TIMEOUT_S).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise IntelbusError(f"topic {topic} does not exist (run `intelbus topics apply`)")
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    futures = admin.list_offsets(
        {TopicPartition(topic, p): latest for p in metadata.partitions},
        isolation_level=IsolationLevel.READ_COMMITTED,
        request_timeout=_TIMEOUT_S,
    )
    return {
        tp.partition: future.result(timeout=_TIMEOUT_S).offset for tp, future in futures.items()
    }


def read_to_end(
    settings: Settings, topic: str, on_message: Callable[[int], None] | None = None
) -> Iterator[Message]:
    """Every committed message of ``topic`` up to its end at the time of the call."""
    ends = committed_ends(settings, topic)
    pending = {p for p, end in ends.items() if end > 0}
    consumer = clients.consumer(settings, f"intelbus-reader-{uuid.uuid4()}", "intelbus-reader")
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
    try:
        while pending:
            for message in consumer.consume(1000, 1.0):
                error = message.error()
                if error is not None:
                    raise IntelbusError(f"reading {topic}: {error}")
                partition, offset = message.partition() or 0, message.offset() or 0
                if partition not in pending:
                    continue
                if offset < ends[partition]:
                    yield message
                    if on_message:
                        on_message(1)
                if offset + 1 >= ends[partition]:
                    pending.discard(partition)
            # Control records (transaction markers) have offsets but no messages: a
            # partition is also done once the reader's position has passed its end.
            for tp in consumer.position([TopicPartition(topic, p) for p in list(pending)]):
                if tp.offset >= ends[tp.partition]:
                    pending.discard(tp.partition)
    finally:
        consumer.close()
