"""Read a topic from the beginning to where it ends now (read_committed), once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, IsolationLevel, Message, TopicPartition
from confluent_kafka.admin import OffsetSpec

from intelbus import clients
from intelbus.errors import IntelbusError
from intelbus.settings import Settings

__all__ = ["EndTracker", "committed_ends", "read_to_end"]

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


class EndTracker:
    """Tells when a reader has passed the given end offset of every partition."""

    def __init__(self, ends: dict[int, int]) -> None:
        self.ends = ends
        self.pending = {p for p, end in ends.items() if end > 0}

    @property
    def done(self) -> bool:
        return not self.pending

    def seen(self, partition: int, offset: int) -> bool:
        """Record a message; False if it lies beyond the end (arrived after the start)."""
        if partition not in self.ends or offset >= self.ends[partition]:
            return False
        if offset + 1 >= self.ends[partition]:
            self.pending.discard(partition)
        return True

    def check_positions(self, consumer: Consumer, topic: str) -> None:
        """Control records (transaction markers) take offsets but are never delivered: a
        partition is also done once the reader's position has passed its end. A group
        consumer that has read nothing yet stands at its committed offset."""
        positions = consumer.position([TopicPartition(topic, p) for p in list(self.pending)])
        unknown = [tp for tp in positions if tp.offset < 0]
        if unknown:
            positions = [tp for tp in positions if tp.offset >= 0]
            positions += consumer.committed(unknown, timeout=_TIMEOUT_S)
        for tp in positions:
            if tp.offset >= self.ends[tp.partition]:
                self.pending.discard(tp.partition)


def read_to_end(
    settings: Settings, topic: str, on_message: Callable[[int], None] | None = None
) -> Iterator[Message]:
    """Every committed message of ``topic`` up to its end at the time of the call."""
    tracker = EndTracker(committed_ends(settings, topic))
    consumer = clients.consumer(settings, f"intelbus-reader-{uuid.uuid4()}", "intelbus-reader")
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in tracker.pending])
    try:
        while not tracker.done:
            for message in consumer.consume(1000, 1.0):
                error = message.error()
                if error is not None:
                    raise IntelbusError(f"reading {topic}: {error}")
                if tracker.seen(message.partition() or 0, message.offset() or 0):
                    yield message
                    if on_message:
                        on_message(1)
            tracker.check_positions(consumer, topic)
    finally:
        consumer.close()
