"""Subscribe to a recipient's feed: typed items to a handler, committed only once handled.

A handler that raises is retried with exponential backoff; after ``max_attempts`` the
message is parked on the recipient's parked topic (with the error, the attempts and where it
came from) and only then committed, so nothing is lost and nothing is skipped silently. A
registry outage is not the message's fault: decoding waits for the registry, parking nothing.
A process that dies mid-feed has committed nothing for the message it was handling, so it
gets that message again when it restarts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import structlog
from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from consumers.feed import FeedDecoder, FeedItem
from intelbus import clients
from intelbus.headers import ParkedHeaders, header_map
from intelbus.names import reader_group, subscriber_group, topic_map
from intelbus.position import Position
from intelbus.producer import produce
from intelbus.serde import RegistryUnavailable
from intelbus.settings import Settings
from intelbus.topic_reader import EndTracker, committed_ends, read_to_end

__all__ = ["ParkedMessage", "Subscriber", "read_feed", "read_parked"]

log = structlog.get_logger()

Handler = Callable[[FeedItem], None]


class Subscriber:
    def __init__(
        self,
        settings: Settings,
        recipient: str,
        handler: Handler,
        *,
        group: str | None = None,
        max_attempts: int = 5,
        backoff_s: float = 0.2,
    ) -> None:
        topics = topic_map(settings)
        self.settings = settings
        self.recipient = recipient
        self.deliveries = topics.deliveries(recipient)
        self.parked_topic = topics.parked(recipient)
        self.group = group or subscriber_group(settings, recipient)
        self.handler = handler
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.decoder = FeedDecoder(settings)
        self.stop = threading.Event()
        self.log = log.bind(recipient=recipient, group=self.group)
        self._consumer = clients.consumer(settings, self.group, f"subscriber-{recipient}")
        self._producer = clients.producer(settings, f"subscriber-{recipient}")
        self.handled = 0
        self.parked = 0

    def run(self, *, follow: bool = True) -> None:
        """Handle the feed until :attr:`stop` is set; without ``follow``, stop once
        everything committed to the feed when the call began has been handled."""
        tracker = None if follow else EndTracker(committed_ends(self.settings, self.deliveries))
        self._consumer.subscribe(self.deliveries)
        try:
            while not self.stop.is_set() and not (tracker and tracker.done):
                message = self._consumer.poll(0.2)
                if message is None or message.error():
                    if message is not None:
                        error = message.error()
                        assert error is not None
                        topic = message.topic() or "its feed"
                        clients.raise_if_refused(error, self.settings, "read", topic)
                        self.log.warning("subscriber.consumer_error", error=str(error))
                    if tracker and self._consumer.assignment():
                        tracker.check_positions(self._consumer)
                    continue
                if not self._handle(message):
                    break  # stopped while the registry was out: not done, so not committed
                # Only now is the message done: handled, or parked for a person to look at.
                self._consumer.commit(message=message, asynchronous=False)
                if tracker:
                    tracker.seen(message)
        finally:
            self._producer.flush(30)
            self._consumer.close()

    def _handle(self, message: Message) -> bool:
        """Handle or park ``message``; False when stopped before either."""
        error: Exception | None = None
        attempt = 1
        while attempt <= self.max_attempts:
            try:
                item = self.decoder.decode(message)
                self.handler(item)
                self.handled += 1
                return True
            except RegistryUnavailable as outage:  # not the message's fault: wait, uncounted
                self.log.warning("subscriber.registry_unavailable", error=str(outage)[:300])
                if self.stop.wait(self.backoff_s):
                    return False
                continue
            except Exception as failure:  # the handler's failure is ours to retry
                error = failure
                self.log.warning(
                    "subscriber.handler_failed",
                    attempt=attempt,
                    offset=message.offset(),
                    error=f"{type(failure).__name__}: {failure}",
                )
                if attempt < self.max_attempts:
                    self.stop.wait(self.backoff_s * 2 ** (attempt - 1))
                attempt += 1
        assert error is not None
        self._park(message, error)
        return True

    def _park(self, message: Message, error: Exception) -> None:
        source = str(Position.of(message))
        why = ParkedHeaders(
            f"{type(error).__name__}: {error}", self.max_attempts, source, self.group
        )
        headers = [*header_map(message).items(), *why.encode()]
        failures: list[str] = []
        produce(
            self._producer,
            self.parked_topic,
            message.value(),
            message.key(),
            headers=headers,
            on_delivery=lambda err, _: failures.append(str(err)) if err else None,
        )
        if self._producer.flush(30) or failures:
            # Not parked means not done: do not commit; the message comes back.
            raise RuntimeError(f"could not park {source}: {failures or 'timeout'}")
        self.parked += 1
        self.log.error("subscriber.parked", source=source, error=str(error)[:300])


@dataclass(frozen=True)
class ParkedMessage:
    source: str
    error: str
    attempts: int
    item: FeedItem | None
    offset: int


def read_parked(settings: Settings, recipient: str) -> Iterator[ParkedMessage]:
    """Every message parked for ``recipient``, with why, decoded where possible."""
    topic = topic_map(settings).parked(recipient)
    decoder = FeedDecoder(settings)
    for message in read_to_end(settings, topic):
        why = ParkedHeaders.decode(header_map(message))
        try:
            item: FeedItem | None = decoder.decode(message)
        except Exception:  # parked precisely because it may not decode
            item = None
        yield ParkedMessage(
            source=why.source,
            error=why.error,
            attempts=why.attempts,
            item=item,
            offset=message.offset() or 0,
        )


def read_feed(
    settings: Settings, recipient: str, follow: bool, stop: threading.Event
) -> Iterator[FeedItem]:
    """Every delivery (lookouts and alerts) from the beginning, without committing anything;
    with ``follow``, keep waiting for new ones until ``stop`` is set."""
    topics = topic_map(settings).deliveries(recipient)
    decoder = FeedDecoder(settings)
    if not follow:
        for message in read_to_end(settings, topics):
            yield decoder.decode(message)
        return
    consumer = clients.consumer(settings, reader_group(settings, recipient), "feed-reader")
    consumer.assign(
        [
            TopicPartition(topic, p, OFFSET_BEGINNING)
            for topic in topics
            for p in consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ]
    )
    try:
        while not stop.is_set():
            polled = consumer.poll(0.2)
            if polled is None:
                continue
            error = polled.error()
            if error is None:
                yield decoder.decode(polled)
            else:
                clients.raise_if_refused(error, settings, "read", polled.topic() or "its feed")
    finally:
        consumer.close()
