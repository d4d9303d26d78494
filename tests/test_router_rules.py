"""Every rule of the brief through the real router: where it fires and where it does not,
checking the decision records and the exact content of every feed."""

from __future__ import annotations

import datetime as dt
import uuid

from intelbus.headers import header_map
from intelbus.models import OfficerSafetyAlert, Pointer
from producers.publisher import Publisher
from services.router.progress import wait_until_all_routed
from tests.conftest import Bus
from tests.kafka_helpers import read_all
from tests.router_helpers import decisions_of, feed_of, running_router
from tests.scenarios import expected_view, scenarios


def test_each_rule_fires_and_holds_back_through_the_router(bus: Bus) -> None:
    now = dt.datetime.now(dt.UTC)
    table = scenarios(now, tag=f"-{uuid.uuid4().hex[:6]}")
    publisher = Publisher(bus.settings)
    for scenario in table:
        for authorization in scenario.authorizations:
            publisher.publish(authorization)
    outgoing = [publisher.encode(s.event) for s in table]
    published = {item.event_id: item.value for item in outgoing}
    publisher.publish_batch(outgoing)

    with running_router(bus.settings):
        wait_until_all_routed(bus.settings)

    # One decision record per (event, recipient), with the expected rules and fields.
    decisions = decisions_of(bus.settings, bus.topics.decisions)
    by_pair = {(d.event_id, d.recipient): d for d in decisions}
    assert len(decisions) == len(by_pair) == sum(len(s.expect) for s in table)
    for scenario in table:
        for recipient, expect in scenario.expect.items():
            d = by_pair[(scenario.event.event_id, recipient)]
            assert (
                d.decision.label,
                d.rules,
                d.removed_fields,
                d.authorization_ids,
                d.notifications,
            ) == (
                expect.decision,
                expect.rules,
                expect.removed,
                expect.authorizations,
                expect.notifications,
            ), (scenario.name, recipient)
            delivered_on = (
                bus.topics.alerts(recipient)
                if isinstance(scenario.event, OfficerSafetyAlert)
                else bus.topics.feed(recipient)
            )
            assert d.feed_topic == (None if expect.decision == "deny" else delivered_on)

    # Every feed holds exactly the non-denied events, once each, with the exact view.
    for recipient in table[0].expect:
        delivered = {
            s.event.event_id: (s, s.expect[recipient])
            for s in table
            if s.expect[recipient].decision != "deny"
        }
        feed = feed_of(bus.settings, bus.topics.deliveries(recipient), expected=len(delivered))
        assert set(feed) == set(delivered), recipient
        for event_id, messages in feed.items():
            scenario, expect = delivered[event_id]
            [message] = messages
            assert (message["decision"], message["rules"], message["removed"]) == (
                expect.decision,
                expect.rules,
                expect.removed,
            )
            view = message["record"]
            if expect.decision == "deliver":
                assert message["bytes"] == published[event_id]
            elif expect.decision == "pointer":
                assert isinstance(view, Pointer)
                assert view.event_id == event_id
                assert view.point_of_contact == scenario.event.originator.point_of_contact
            else:
                assert view == expected_view(scenario.event, expect.removed)

    # Fail-closed also dead-letters the event, naming the reason.
    [dead] = read_all(bus.settings, bus.topics.dead_letter, expected=1)
    headers = header_map(dead)
    assert headers["intelbus.dlq.reason"] == "fail-closed"
    assert (
        dead.value()
        == published[next(s.event.event_id for s in table if s.name == "unknown-marking")]
    )
