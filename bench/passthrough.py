"""The passthrough ceiling: a transactional copier with the router's Kafka I/O and nothing
else. It consumes the inbound bytes and produces them unchanged to every recipient's feed
(N topics) plus one small record per event, committing offsets in the same transaction at
the same interval as the router.

    python -m bench.passthrough   (settings from the environment, like the router)

Like the router it connects as the router principal (unless INTELBUS_PRINCIPAL says
otherwise), reads every publisher's lookouts topic, and names its group and transactional id
under the router's prefix (``names.router_group``), which the router's ACLs allow.
"""

from __future__ import annotations

import signal
import time

from confluent_kafka import TopicPartition

from intelbus import clients
from intelbus.access.principals import load_principals
from intelbus.names import router_group, topic_map
from intelbus.policy.recipients import load_recipients
from intelbus.settings import Settings

GROUP_LANE = "passthrough"


def main() -> None:
    settings = Settings()
    principals = load_principals(settings.policies_dir)
    if not settings.principal_override:
        settings = settings.as_principal(principals.router)
    topics = topic_map(settings)
    outputs = [topics.feed(r.id) for r in load_recipients(settings.policies_dir)]
    group = router_group(settings, GROUP_LANE)
    consumer = clients.consumer(settings, group, "bench-passthrough")
    producer = clients.transactional_producer(
        settings,
        "bench-passthrough",
        f"{group}-0",
        **{"linger.ms": 5, "queue.buffering.max.messages": 1_000_000},
    )
    producer.init_transactions(30)
    consumer.subscribe([topics.lookouts(p.id) for p in principals.publishers])
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    interval = settings.commit_interval_ms / 1000
    started: float | None = None
    offsets: dict[tuple[str, int], int] = {}
    while not stop:
        for message in consumer.consume(1000, 0.05):
            if message.error():
                continue
            if started is None:
                producer.begin_transaction()
                started = time.monotonic()
            for topic in outputs:
                producer.produce(topic, message.value(), message.key())
            producer.produce(topics.decisions, b"x" * 200, message.key())  # the small record
            offsets[(message.topic() or "", message.partition() or 0)] = (message.offset() or 0) + 1
        if started is not None and time.monotonic() - started >= interval:
            producer.send_offsets_to_transaction(
                [TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                consumer.consumer_group_metadata(),
                30,
            )
            producer.commit_transaction(30)
            started = None
            offsets.clear()
    consumer.close()


if __name__ == "__main__":
    main()
