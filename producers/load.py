"""Publish many events one by one, at a steady rate, and record what became of each.

Unlike ``Publisher.publish_batch`` (one transaction, all or nothing), every event here is
its own idempotent publish, acknowledged or refused on its own, as a field system would
publish: the ack log (intelbus.acks) says for each whether the broker acknowledged it and
where, or the error the publisher got. The fault suite publishes through this while it
kills brokers and routers; the exactly-once checker holds the bus to the ack log.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from confluent_kafka import KafkaError, Message

from intelbus import clients
from intelbus.acks import Ack, AckStatus, AckWriter
from intelbus.models import Record
from intelbus.producer import produce
from intelbus.settings import Settings
from producers.publisher import Publisher

__all__ = ["LoadResult", "publish_recorded"]

# librdkafka retries a message until delivery.timeout.ms (default 5 minutes) has passed;
# waiting a little longer lets every message get its own answer before any is unknown.
_ANSWER_WAIT_S = 330.0


@dataclass
class LoadResult:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    unknown: int = 0


def publish_recorded(
    settings: Settings,
    records: Iterable[Record],
    acks: AckWriter,
    *,
    rate: float | None = None,
    client_id: str = "intelbus-load",
    result: LoadResult | None = None,
) -> LoadResult:
    """Publish each record (``rate`` per second at most) and write its ack to ``acks``;
    ``result`` counts as the answers arrive (pass one to watch the progress)."""
    publisher = Publisher(settings, client_id=client_id)
    producer = clients.producer(settings, client_id)
    result = result or LoadResult()
    pending: dict[int, str] = {}

    def answered(seq: int, event_id: str, error: KafkaError | None, message: Message) -> None:
        del pending[seq]
        if error is None:
            result.acked += 1
            at = message.topic(), message.partition(), message.offset()
            acks.write(
                Ack(
                    event_id=event_id,
                    seq=seq,
                    status=AckStatus.ACKED,
                    topic=at[0],
                    partition=at[1],
                    offset=at[2],
                )
            )
            return
        result.failed += 1
        reason = clients.refusal(error, settings) or error.str()
        acks.write(
            Ack(
                event_id=event_id,
                seq=seq,
                status=AckStatus.FAILED,
                topic=message.topic(),
                error=f"not published to {message.topic()}: {reason}"[:2000],
            )
        )

    started = time.monotonic()
    for seq, record in enumerate(records):
        outgoing = publisher.encode(record)
        pending[seq] = outgoing.event_id
        produce(
            producer,
            outgoing.topic,
            outgoing.value,
            outgoing.key,
            on_delivery=partial(answered, seq, outgoing.event_id),
        )
        result.sent += 1
        producer.poll(0)
        if rate:
            # Pacing: the next event is due (seq + 1) / rate seconds after the start; poll
            # serves acknowledgements meanwhile (it returns early when it served one).
            due = started + (seq + 1) / rate
            while (ahead := due - time.monotonic()) > 0:
                producer.poll(ahead)
    producer.flush(_ANSWER_WAIT_S)
    for seq, event_id in sorted(pending.items()):
        result.unknown += 1
        acks.write(Ack(event_id=event_id, seq=seq, status=AckStatus.UNKNOWN))
    return result
