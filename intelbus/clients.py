"""Kafka client factory: every producer, consumer and admin client of intelbus is made here."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from intelbus.settings import Settings

__all__ = ["admin", "consumer", "producer", "transactional_producer"]


def _base(settings: Settings, client_id: str) -> dict[str, Any]:
    return {"bootstrap.servers": settings.bootstrap_servers, "client.id": client_id}


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
