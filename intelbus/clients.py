"""Kafka client factory: every producer, consumer and admin client of intelbus is made here."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from intelbus.errors import IntelbusError
from intelbus.secrets import SecretStore
from intelbus.settings import Settings

__all__ = [
    "LIBRDKAFKA_LOG",
    "NotAuthorized",
    "admin",
    "authentication_failure",
    "committed",
    "consumer",
    "not_authorized",
    "producer",
    "raise_if_refused",
    "refusal",
    "security",
    "transactional_producer",
]

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


def security(settings: Settings) -> dict[str, Any]:
    """How this process authenticates: SCRAM-SHA-512 over TLS as ``settings.principal``."""
    if settings.security_protocol == "PLAINTEXT":
        return {"security.protocol": "PLAINTEXT"}
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": settings.principal,
        "sasl.password": SecretStore(settings.secrets_dir).password(settings.principal),
        "ssl.ca.location": str(settings.ca_file),
    }


def _base(settings: Settings, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": client_id,
        "logger": LIBRDKAFKA_LOG,
    } | security(settings)


_REFUSALS = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED: "a topic it needs",
    KafkaError.GROUP_AUTHORIZATION_FAILED: "its consumer group",
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "its transactional id",
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: "a cluster operation",
}


class NotAuthorized(IntelbusError):
    """The broker refused this principal (ACLs, deny by default)."""


def not_authorized(settings: Settings, action: str, resource: str) -> NotAuthorized:
    return NotAuthorized(f"not authorized to {action} {resource} as {settings.principal}")


def raise_if_refused(error: KafkaError, settings: Settings, action: str, resource: str) -> None:
    """Raise :class:`NotAuthorized` when ``error`` is an ACL refusal (which retrying never
    cures); other errors are the caller's to handle."""
    if error.code() in _REFUSALS:
        raise not_authorized(settings, action, resource)


def refusal(error: KafkaError, settings: Settings) -> str | None:
    """A clear sentence when ``error`` is the broker refusing this principal, else None."""
    what = _REFUSALS.get(error.code())
    if what is None:
        return None
    return f"the broker refused {settings.principal} access to {what}: {error.str()}"


def authentication_failure(settings: Settings) -> str | None:
    """Why this principal cannot log in, if that is what is wrong (a short probe)."""
    failures: list[KafkaError] = []
    probe = AdminClient(
        _base(settings, "intelbus-probe")
        | {"error_cb": failures.append, "socket.connection.setup.timeout.ms": 5000}
    )
    with contextlib.suppress(KafkaException):
        probe.list_topics(timeout=5)
    probe.poll(0)  # librdkafka reports errors to error_cb only from poll()
    for failure in failures:
        if failure.code() == KafkaError._AUTHENTICATION:
            return (
                f"authentication as {settings.principal} failed at {settings.bootstrap_servers} "
                f"(unknown principal or wrong password): {failure.str()}"
            )
    return None


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
