"""Subscribers: typed items, commit only after the handler succeeded, retry then park."""

from __future__ import annotations

import pytest

from cli import main
from consumers.feed import FeedItem
from consumers.subscriber import Subscriber, read_parked
from intelbus import clients, serde
from intelbus.models import Lookout
from tests import factories
from tests.conftest import Bus


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing catches it."""


def _feed_lookouts(bus: Bus, recipient: str, count: int) -> list[Lookout]:
    """Lookouts on the recipient's feed, as the router writes them (whole deliveries)."""
    topic = bus.topics.feed(recipient)
    writer = serde.RecordSerializer(
        serde.registry_client(bus.settings), Lookout, bus.settings.schemas_dir
    )
    producer = clients.producer(bus.settings, "test")
    records = [factories.lookout(event_id=f"feed-{n}") for n in range(count)]
    for record in records:
        producer.produce(
            topic,
            writer.serialize(record, topic),
            b"same-subject",  # one partition: a defined order
            headers=[
                ("intelbus.decision", b"deliver"),
                ("intelbus.rules", b"dhs-need-to-know"),
                ("intelbus.removed", b""),
                ("intelbus.event-id", record.event_id.encode()),
            ],
        )
    assert producer.flush(30) == 0
    return records


def test_handler_crash_mid_feed_gets_the_message_again_after_restart(bus: Bus) -> None:
    records = _feed_lookouts(bus, "ice", 5)
    seen: list[str] = []

    def crashing(item: FeedItem) -> None:
        seen.append(item.event_id)
        if item.event_id == "feed-2":
            raise Crash

    with pytest.raises(Crash):
        Subscriber(bus.settings, "ice", crashing, group="g1").run(follow=False)
    assert seen == ["feed-0", "feed-1", "feed-2"]

    again: list[FeedItem] = []
    restarted = Subscriber(bus.settings, "ice", again.append, group="g1")
    restarted.run(follow=False)
    assert [item.event_id for item in again] == ["feed-2", "feed-3", "feed-4"]
    assert [item.record for item in again] == records[2:]
    assert all(item.decision == "deliver" and item.rules == ("dhs-need-to-know",) for item in again)


def test_failing_handler_is_retried_then_parked_and_the_feed_moves_on(bus: Bus) -> None:
    _feed_lookouts(bus, "cbp", 3)
    attempts: dict[str, int] = {}
    handled: list[str] = []

    def handler(item: FeedItem) -> None:
        attempts[item.event_id] = attempts.get(item.event_id, 0) + 1
        if item.event_id == "feed-1":
            raise ValueError("case system rejected the record")
        if item.event_id == "feed-2" and attempts["feed-2"] < 3:
            raise TimeoutError("case system busy")
        handled.append(item.event_id)

    subscriber = Subscriber(
        bus.settings, "cbp", handler, group="g2", max_attempts=4, backoff_s=0.01
    )
    subscriber.run(follow=False)
    assert handled == ["feed-0", "feed-2"]
    assert attempts == {"feed-0": 1, "feed-1": 4, "feed-2": 3}
    assert (subscriber.handled, subscriber.parked) == (2, 1)

    [parked] = list(read_parked(bus.settings, "cbp"))
    assert parked.item is not None
    assert parked.item.event_id == "feed-1"
    assert parked.attempts == 4
    assert parked.error == "ValueError: case system rejected the record"
    assert parked.source.startswith(bus.topics.feed("cbp"))

    # Everything was committed: a restart finds nothing left to handle.
    nothing: list[FeedItem] = []
    Subscriber(bus.settings, "cbp", nothing.append, group="g2").run(follow=False)
    assert nothing == []


def test_subscribe_cli_prints_the_feed(cli_env: Bus, capsys: pytest.CaptureFixture[str]) -> None:
    _feed_lookouts(cli_env, "jttf-miami", 2)
    assert main(["subscribe", "--as", "jttf-miami", "--from-beginning"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "WHOLE" in lines[0]
    assert "[feed-0]" in lines[0]
    assert main(["subscribe", "--as", "jttf-miami", "--from-beginning", "--json"]) == 0
    assert '"decision": "deliver"' in capsys.readouterr().out
    assert main(["subscribe", "--as", "nobody"]) == 1
    assert "unknown recipient 'nobody'" in capsys.readouterr().err
