"""The exactly-once checker against a real bus: a bus routed cleanly checks out with exact
counts, and each way of breaking exactly once that it exists for is counted — a duplicated
delivery, a delivery no decision made, an acknowledged event missing, an answer never
received, an event never decided, and a subscriber that read an aborted transaction."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from confluent_kafka import IsolationLevel, Message

from cli.audit import router_anchors
from consumers.checker.bus import check_bus
from consumers.checker.report import CheckReport
from consumers.render import item_json
from consumers.subscriber import Subscriber
from intelbus import clients
from intelbus.access.principals import load_principals, subscriber_principal
from intelbus.acks import Ack, AckStatus, AckWriter, read_acks
from intelbus.errors import IntelbusError
from intelbus.headers import DeliveryHeaders, header_map
from intelbus.jsonout import dumps
from intelbus.keydir import load_public_keys
from intelbus.topic_reader import read_to_end
from producers.load import publish_recorded
from services.router.progress import wait_until_all_routed
from tests.conftest import Bus
from tests.generate import lookouts
from tests.router_helpers import running_router

EVENTS = 40
RECIPIENTS = len(load_principals(Path(__file__).parent.parent / "policies").recipients)


@dataclasses.dataclass(frozen=True)
class Routed:
    bus: Bus
    acks: Path
    receipts: dict[str, Path]

    def check(self, receipts: dict[str, Path] | None = None) -> CheckReport:
        settings = self.bus.settings
        trusted = load_public_keys(settings.keys_dir)  # the test holds the router's keys
        return check_bus(
            settings, trusted, router_anchors(settings), [self.acks], receipts or self.receipts
        )


def _subscribe(bus: Bus, recipient: str, into: Path) -> Path:
    """What `intelbus subscribe --as RECIPIENT --json` prints, for everything committed."""
    settings = bus.settings.as_principal(subscriber_principal(recipient))
    with into.open("w") as out:
        subscriber = Subscriber(
            settings, recipient, lambda item: print(dumps(item_json(item)), file=out)
        )
        subscriber.run(follow=False)
    return into


@pytest.fixture
def routed(bus: Bus, tmp_path: Path) -> Routed:
    """EVENTS lookouts published one by one with their acks, routed, and read by the CBP
    subscriber."""
    acks = tmp_path / "acks.jsonl"
    with AckWriter(acks) as writer:
        result = publish_recorded(bus.settings, lookouts(EVENTS, seed=5), writer)
    assert (result.sent, result.acked) == (EVENTS, EVENTS)
    with running_router(bus.settings):
        wait_until_all_routed(bus.settings)
    return Routed(bus, acks, {"cbp": _subscribe(bus, "cbp", tmp_path / "cbp.jsonl")})


def _feed(bus: Bus, recipient: str) -> list[Message]:
    return list(read_to_end(bus.settings, bus.topics.feed(recipient)))


def _produce(bus: Bus, topic: str, message: Message, **changes: object) -> None:
    """Write a copy of ``message`` (headers changed as given) outside any transaction."""
    headers = header_map(message) | {k: str(v) for k, v in changes.items()}
    producer = clients.producer(bus.settings, "test-injector")
    producer.produce(topic, message.value(), message.key(), headers=list(headers.items()))
    assert producer.flush(30) == 0


def test_a_cleanly_routed_bus_checks_out_with_exact_counts(routed: Routed) -> None:
    report = routed.check()
    assert report.ok, report.lines()
    assert (report.events_on_bus, report.acked, report.failed, report.unknown) == (
        EVENTS,
        EVENTS,
        0,
        0,
    )
    assert report.decisions == EVENTS * RECIPIENTS
    assert report.lost == report.duplicated == report.aborted_reads == 0
    assert report.order_violations == report.aborted_in_log == 0
    assert report.chains_verify
    assert report.seals >= report.chains > 0
    cbp = report.subscribers["cbp"]
    assert cbp.handled == len(_feed(routed.bus, "cbp")) > 0
    assert (cbp.missed, cbp.redelivered, cbp.aborted_reads) == (0, 0, 0)
    assert report.lines()[-1] == "exactly once             OK"


def test_a_duplicated_delivery_is_counted_and_out_of_order(routed: Routed) -> None:
    """A delivery written again after later ones: one duplicate, one order violation."""
    feed = _feed(routed.bus, "ice")
    first = min(feed, key=lambda m: (m.partition(), m.offset()))
    _produce(routed.bus, routed.bus.topics.feed("ice"), first)
    report = routed.check()
    assert (report.duplicate_deliveries, report.order_deliveries) == (1, 1)
    assert (report.duplicated, report.lost) == (1, 0)
    assert not report.ok


def test_a_delivery_without_its_decision_is_counted(routed: Routed) -> None:
    message = _feed(routed.bus, "cbp")[0]
    _produce(
        routed.bus, routed.bus.topics.feed("cbp"), message, **{DeliveryHeaders.DECISION_ID: "x#1"}
    )
    report = routed.check()
    assert (report.deliveries_without_decision, report.duplicated) == (1, 0)
    assert not report.ok


def test_an_acknowledged_event_missing_from_the_bus_is_lost(routed: Routed) -> None:
    acks = list(read_acks(routed.acks))
    ghost = acks[0].model_copy(update={"event_id": "never-published", "seq": EVENTS})
    ghost = ghost.model_copy(update={"offset": 10**9})
    with AckWriter(routed.acks) as writer:
        writer.write(ghost)
    report = routed.check()
    assert (report.lost_writes, report.lost) == (1, 1)
    assert not report.ok


def test_a_publish_left_without_an_answer_fails_the_check(routed: Routed) -> None:
    with AckWriter(routed.acks) as writer:
        writer.write(Ack(event_id="in-doubt", seq=EVENTS, status=AckStatus.UNKNOWN))
    report = routed.check()
    assert (report.unknown, report.lost) == (1, 0)
    assert not report.ok


def test_an_event_nobody_routed_is_undecided_for_every_recipient(routed: Routed) -> None:
    """Published after the router stopped: lost for each recipient until routed."""
    with AckWriter(routed.acks) as writer:
        publish_recorded(routed.bus.settings, lookouts(1, seed=99), writer)
    report = routed.check()
    assert (report.events_on_bus, report.undecided) == (EVENTS + 1, RECIPIENTS)
    assert not report.ok


def test_a_subscriber_that_reads_an_aborted_transaction_is_caught(
    routed: Routed, tmp_path: Path
) -> None:
    """A transaction writing a copy of a delivery is aborted: the log holds it, read_committed
    readers never see it, and a subscriber reading read_uncommitted handled it."""
    bus = routed.bus
    message = _feed(bus, "cbp")[0]
    producer = clients.transactional_producer(bus.settings, "test-aborter", "test-aborter")
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(
        bus.topics.feed("cbp"), message.value(), message.key(), headers=message.headers()
    )
    producer.flush(30)
    producer.abort_transaction(30)
    uncommitted = tmp_path / "uncommitted.jsonl"
    uncommitted.write_text(
        "".join(
            json.dumps(
                {
                    "event_id": header_map(m)[DeliveryHeaders.EVENT_ID],
                    "decision_id": header_map(m)[DeliveryHeaders.DECISION_ID],
                    "partition": m.partition(),
                    "offset": m.offset(),
                }
            )
            + "\n"
            for m in read_to_end(
                bus.settings,
                bus.topics.deliveries("cbp"),
                isolation=IsolationLevel.READ_UNCOMMITTED,
            )
        )
    )
    honest = routed.check()
    assert (honest.aborted_in_log, honest.aborted_reads) == (1, 0)
    assert honest.ok
    report = routed.check(receipts={"cbp": uncommitted})
    assert report.aborted_in_log == 1
    assert (report.subscribers["cbp"].aborted_reads, report.aborted_reads) == (1, 1)
    assert not report.ok


def test_an_ack_log_line_that_is_not_an_ack_is_named(tmp_path: Path) -> None:
    """Bad input gets line, field and reason, never a traceback."""
    log = tmp_path / "acks.jsonl"
    log.write_text(
        '{"event_id": "a", "seq": 0, "status": "acked", "topic": "t", "partition": 0, '
        '"offset": 1}\n{"event_id": "b", "seq": 1, "status": "maybe"}\n'
    )
    with pytest.raises(IntelbusError, match=r"acks.jsonl line 2: status: Input should be"):
        list(read_acks(log))
    log.write_text('{"event_id": "a", "seq": 0, "status": "acked"}\n')
    with pytest.raises(IntelbusError, match="line 1: line: Value error, an acked event needs"):
        list(read_acks(log))
    log.write_bytes(b'{"event_id": "' + b"a" * 10_000 + b'"}\n')
    with pytest.raises(IntelbusError, match="line 1: longer than 8192 bytes"):
        list(read_acks(log))
