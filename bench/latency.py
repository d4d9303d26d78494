"""Latency probes: publish at a steady rate and time each event until it is visible to a
read_committed reader of the CBP feed, while a background load keeps the router busy; and,
as the reference, plain Kafka produce-to-consume on a topic of its own, in the same run.

Every process connects over SASL_SSL/SCRAM as the principal it is in production: the probes
are published by the publisher of the agency each names (on its own inbound topics), and read
as ``subscriber-cbp``. The plain Kafka probes take the same path through TLS, SCRAM and the
authorizer: the same producer writes them, the same principal reads them (the run grants
both on its own raw topic).

Every probe event carries its sequence number in its event id; ids are spliced into
pre-encoded Avro (the event id is the record's first field), so publishing costs no encoding.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_END, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from bench.common import Namespace
from intelbus import clients, serde
from intelbus.access.principals import publisher_principal, subscriber_principal
from intelbus.models import Lookout, OfficerSafetyAlert, Record
from intelbus.names import reader_group
from intelbus.producer import produce
from tests.avro_helpers import avro_long

__all__ = ["LatencyRun", "run_latency"]

READER = "cbp"  # whose feed and alerts the probes are timed on


class _Template:
    """Re-frames one encoded record with a new event id, without re-encoding it."""

    def __init__(self, codec: serde.FastCodec, record: Record) -> None:
        encoded = codec.encode(record.to_avro())
        event_id = record.to_avro()["eventId"].encode()
        head = serde.CONFLUENT_HEADER
        prefix = avro_long(len(event_id)) + event_id
        assert encoded[head : head + len(prefix)] == prefix
        self._header = encoded[:head]
        self._rest = encoded[head + len(prefix) :]

    def with_id(self, event_id: str) -> bytes:
        raw = event_id.encode()
        return self._header + avro_long(len(raw)) + raw + self._rest


@dataclass
class LatencyRun:
    """Milliseconds from publish to visible, per probe."""

    alerts: list[float] = field(default_factory=list)
    lookouts: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    load_sent: int = 0


def _paced(rate: float, seconds: float, send: Callable[[int], None], stop: threading.Event) -> int:
    """Call ``send(i)`` ``rate`` times a second for ``seconds``; return how many were sent."""
    started = time.monotonic()
    sent = 0
    while not stop.is_set():
        elapsed = time.monotonic() - started
        if elapsed >= seconds:
            break
        due = int(elapsed * rate)
        while sent < due:
            send(sent)
            sent += 1
        time.sleep(0.001)  # pacing: the schedule, not a condition, decides when to send
    return sent


class _Probe:
    """Senders and readers of one latency run, sharing the send times by event id."""

    def __init__(self, ns: Namespace, lookout: Lookout, alert: OfficerSafetyAlert) -> None:
        settings = ns.settings
        client = serde.registry_client(settings)
        self.ns = ns
        self.lookouts = _Template(
            serde.FastCodec.registered(client, Lookout, settings.schemas_dir), lookout
        )
        self.alerts = _Template(
            serde.FastCodec.registered(client, OfficerSafetyAlert, settings.schemas_dir), alert
        )
        self.lookout_topic = ns.topics.lookouts(self._publisher(lookout))
        alert_publisher = self._publisher(alert)
        self.alert_topic = ns.topics.officer_safety(alert_publisher)
        self.reader = ns.as_principal(subscriber_principal(READER))
        self.raw_topic = f"{settings.topic_prefix}raw-latency"
        admin = clients.admin(settings)
        admin.create_topics([NewTopic(self.raw_topic, 1, 1)])[self.raw_topic].result(30)
        prober = publisher_principal(alert_publisher)
        for future in admin.create_acls(
            [
                _allow(self.raw_topic, prober, AclOperation.WRITE),
                _allow(self.raw_topic, self.reader.principal, AclOperation.READ),
            ]
        ).values():
            future.result(30)
        self.loader = clients.producer(
            ns.as_principal(publisher_principal(self._publisher(lookout))),
            "bench-load",
            **{"linger.ms": 5},
        )
        self.prober = clients.producer(ns.as_principal(prober), "bench-probe", **{"linger.ms": 0})
        self.sent_at: dict[str, float] = {}
        self.result = LatencyRun()
        self.stop = threading.Event()
        self.time_lookouts = False

    def _publisher(self, record: Lookout | OfficerSafetyAlert) -> str:
        """The publisher of the agency ``record`` names (else the router dead-letters it)."""
        found = self.ns.principals.publisher_of_agency(record.originator.agency)
        assert found is not None, record.originator.agency
        return found.id

    def send_lookout(self, i: int) -> None:
        event_id = f"L{i}"
        if self.time_lookouts:
            self.sent_at[event_id] = time.perf_counter()
        value = self.lookouts.with_id(event_id)
        produce(self.loader, self.lookout_topic, value, event_id.encode())
        self.loader.poll(0)

    def send_probes(self, i: int) -> None:
        now = time.perf_counter()
        self.sent_at[f"A{i}"] = self.sent_at[f"R{i}"] = now
        self.prober.produce(self.alert_topic, self.alerts.with_id(f"A{i}"), f"A{i}".encode())
        self.prober.produce(self.raw_topic, f"R{i}".encode(), f"R{i}".encode())
        self.prober.poll(0)

    def read(self, topics: list[str]) -> None:
        """Time every probe seen on ``topics`` (the keys are the event ids)."""
        consumer = clients.consumer(self.reader, reader_group(self.reader, "bench"), "bench")
        consumer.assign(
            [
                TopicPartition(topic, p, OFFSET_END)
                for topic in topics
                for p in consumer.list_topics(topic, timeout=30).topics[topic].partitions
            ]
        )
        samples = {"A": self.result.alerts, "L": self.result.lookouts, "R": self.result.raw}
        try:
            while not self.stop.is_set():
                # poll, not consume(n, timeout): a batch read may wait out its timeout.
                message = consumer.poll(0.05)
                if message is None or message.error():
                    continue
                key = (message.key() or b"").decode()
                sent = self.sent_at.get(key)
                if sent is not None:
                    samples[key[0]].append((time.perf_counter() - sent) * 1000)
        finally:
            consumer.close()


def _allow(topic: str, principal: str, operation: AclOperation) -> AclBinding:
    return AclBinding(
        ResourceType.TOPIC,
        topic,
        ResourcePatternType.LITERAL,
        f"User:{principal}",
        "*",
        operation,
        AclPermissionType.ALLOW,
    )


def run_latency(
    ns: Namespace,
    lookout: Lookout,
    alert: OfficerSafetyAlert,
    *,
    load_rate: float,
    alert_rate: float,
    seconds: float,
    sample_lookouts: bool,
) -> LatencyRun:
    """Background lookouts at ``load_rate``/s and alerts at ``alert_rate``/s for ``seconds``
    (the router must be running in ``ns``); plain Kafka probes at ``alert_rate``/s alongside."""
    probe = _Probe(ns, lookout, alert)
    probe.time_lookouts = sample_lookouts
    # Reading the lookout feed costs the harness CPU; only do it when lookouts are timed.
    feeds = ns.topics.deliveries(READER) if sample_lookouts else [ns.topics.alerts(READER)]
    readers = [
        threading.Thread(target=probe.read, args=(topics,), daemon=True)
        for topics in (feeds, [probe.raw_topic])
    ]
    for thread in readers:
        thread.start()
    time.sleep(2.0)  # let the readers' assignments settle at the end offsets before sending

    def load() -> None:
        probe.result.load_sent = _paced(load_rate, seconds, probe.send_lookout, probe.stop)

    loading = threading.Thread(target=load, daemon=True)
    loading.start()
    _paced(alert_rate, seconds, probe.send_probes, probe.stop)
    loading.join()
    probe.loader.flush(30)
    probe.prober.flush(30)
    time.sleep(3.0)  # stragglers: what is not visible 3 s after the last send is not counted
    probe.stop.set()
    for thread in readers:
        thread.join(10)
    return probe.result
