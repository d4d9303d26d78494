"""Producing one message with a full local queue: wait for room instead of failing.

librdkafka refuses a message (``BufferError``) while its local queue is full; the queue only
empties as delivery reports are served, so every producer of the bus produces through
:func:`produce`, which serves them until the message fits.
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaError, Message, Producer

from intelbus.headers import Headers

__all__ = ["OnDelivery", "produce"]

OnDelivery = Callable[[KafkaError | None, Message], None]

_ROOM_WAIT_S = 0.05


def produce(
    producer: Producer,
    topic: str,
    value: bytes | None,
    key: bytes | None,
    *,
    headers: Headers | None = None,
    on_delivery: OnDelivery | None = None,
    partition: int = -1,  # -1: the partitioner's choice
) -> None:
    """Produce one message, serving delivery reports while the local queue is full."""
    while True:
        try:
            producer.produce(topic, value, key, partition, headers=headers, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(_ROOM_WAIT_S)
