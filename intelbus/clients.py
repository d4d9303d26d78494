"""Kafka client factory: every producer, consumer and admin client of intelbus is made here."""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from intelbus.settings import Settings

__all__ = ["admin", "committed", "consumer", "producer", "transactional_producer"]

# Group-coordinator answers that mean "not yet": a new broker is still loading the offsets
# topic, or the coordinator moved. They pass on their own; everything else is raised.
_COORDINATOR_NOT_READY = {
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError._TIMED_OUT,
    KafkaError._WAIT_COORD,
}


# librdkafka's own log lines go to this logger, not straight to stderr: a service logs them
# with the rest of its log (intelbus.logs); a command shows only warnings and errors.
LIBRDKAFKA_LOG = logging.getLogger("intelbus.librdkafka")


def _base(settings: Settings, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": client_id,
        "logger": LIBRDKAFKA_LOG,
    }


def admin(settings: Settings) -> AdminClient:
    return AdminClient(_base(settings, "intelbus-admin"))


def producer(settings: Settings, client_id: str, **overrides: Any) -> Producer:
    """An idempotent producer: acks=all, no duplicates or reordering on retry."""
    config = _base(settings, client_id) | {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
    }
    return Producer(config | overrides)


def transactional_producer(
    settings: Settings, client_id: str, transactional_id: str, **overrides: Any
) -> Producer:
    """A transactional producer; short backoffs keep send_offsets_to_transaction fast
    (confluent-kafka-python #967)."""
    return producer(
        settings,
        client_id,
        **{
            "transactional.id": transactional_id,
            "transaction.timeout.ms": 60_000,
            "retry.backoff.ms": 20,
            "retry.backoff.max.ms": 500,
        }
        | overrides,
    )


def consumer(settings: Settings, group_id: str, client_id: str, **overrides: Any) -> Consumer:
    """A consumer that sees only committed transactional data and commits explicitly."""
    config = _base(settings, client_id) | {
        "group.id": group_id,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    return Consumer(config | overrides)


def committed(
    consumer: Consumer, partitions: list[TopicPartition], timeout: float = 60.0
) -> list[TopicPartition]:
    """The group's committed offsets (with metadata), waiting out a coordinator that is not
    ready yet instead of failing: on a fresh broker the offsets topic takes a while to load."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found: list[TopicPartition] = consumer.committed(partitions, timeout=10)
            return found
        except KafkaException as exception:
            error: KafkaError = exception.args[0]
            if error.code() not in _COORDINATOR_NOT_READY or time.monotonic() > deadline:
                raise
        time.sleep(0.2)  # the coordinator gives no signal to await; retry shortly
