"""All examples through publishers, router and feeds: each subscriber's feed and every
decision record exactly as the rules say, before and after CBP grants ICE a disclosure."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from consumers.audit.log import read_decision_log
from consumers.audit.verify import verify_log
from intelbus import keydir
from producers.publisher import Publisher
from services.router.progress import wait_until_all_routed, wait_until_authorizations_applied
from services.scenario import PHASE_1, PHASE_2, load_phase
from tests.conftest import Bus
from tests.router_helpers import feed_of, running_router

DHS = ["dhs-need-to-know"]
# (event id, recipient) -> (decision, rules, removed fields, authorizations)
EXPECTED: dict[tuple[str, str], tuple[str, list[str], list[str], list[str]]] = {}


def _expect(event: str, **by_recipient: tuple[str, list[str], list[str], list[str]]) -> None:
    for recipient, outcome in by_recipient.items():
        EXPECTED[(event, recipient.replace("_", "-"))] = outcome


DENY: tuple[str, list[str], list[str], list[str]] = ("deny", DHS, [], [])
_expect(
    "ice-hsi-mia-2026-0193",
    cbp=("deliver", DHS, [], []),
    ice=("deliver", DHS, [], []),
    best_laredo=DENY,
    jttf_miami=("deliver", [], [], []),
    ibet_blaine=DENY,
)
_expect(
    "cbp-ntc-2026-0417-1",
    cbp=("deliver-redacted", [*DHS, "eu-pnr-primary", "eu-pnr-sensitive"], ["pnr.sensitive"], []),
    ice=("deliver-redacted", [*DHS, "eu-pnr-third-party"], ["pnr"], []),
    best_laredo=DENY,
    jttf_miami=("deliver-redacted", ["eu-pnr-third-party"], ["pnr"], []),
    ibet_blaine=DENY,
)
_expect(
    "ice-hsi-lrd-os-2026-0031",
    cbp=("deliver", ["officer-safety"], [], []),
    ice=("deliver", ["officer-safety"], [], []),
    best_laredo=("deliver", ["officer-safety"], [], []),
    jttf_miami=("deny", ["officer-safety"], [], []),
    ibet_blaine=("deny", ["officer-safety"], [], []),
)
_expect(
    "ice-hsi-lrd-2026-0588",
    cbp=("deliver", DHS, [], []),
    ice=("deliver", DHS, [], []),
    best_laredo=("pointer", ["third-agency", "most-restrictive"], [], []),
    jttf_miami=DENY,
    ibet_blaine=DENY,
)
_expect(
    "cbp-ofo-blw-2026-0077",
    cbp=("deliver", DHS, [], []),
    ice=("deliver", DHS, [], []),
    best_laredo=DENY,
    jttf_miami=DENY,
    ibet_blaine=("deny", ["noforn", "most-restrictive"], [], []),
)
_expect(
    "cbp-ntc-2026-0417-2",
    cbp=("deliver", [*DHS, "eu-pnr-primary"], [], []),
    ice=("deliver", [*DHS, "eu-pnr-third-party"], [], ["cbp-tpr-2026-0031"]),
    best_laredo=DENY,
    jttf_miami=("deliver-redacted", ["eu-pnr-third-party"], ["pnr"], []),
    ibet_blaine=DENY,
)


def test_examples_end_to_end(bus: Bus) -> None:
    now = dt.datetime.now(dt.UTC)
    publisher = Publisher(bus.settings)
    with running_router(bus.settings):
        for record in load_phase(PHASE_1, now):
            publisher.publish(record)
        wait_until_all_routed(bus.settings)
        authorization, update = load_phase(PHASE_2, now)
        publisher.publish(authorization)
        # It applies to events decided after it reaches the router.
        wait_until_authorizations_applied(bus.settings, bus.topics.authorizations("cbp"))
        publisher.publish(update)
        wait_until_all_routed(bus.settings)

    entries = list(read_decision_log(bus.settings, bus.topics.decisions))
    decisions = [e.decision for e in entries if e.decision is not None]
    got = {
        (d.event_id, d.recipient): (
            d.decision.label,
            d.rules,
            d.removed_fields,
            d.authorization_ids,
        )
        for d in decisions
    }
    assert len(decisions) == len(got)
    assert got == EXPECTED
    onward = [d for d in decisions if d.onward_transfer]
    assert [(d.event_id, d.recipient) for d in onward] == [("cbp-ntc-2026-0417-2", "ice")]
    assert verify_log(entries, keydir.load_public_keys(bus.settings.keys_dir)).ok

    for recipient in {r for _, r in EXPECTED}:
        wanted = {
            event: outcome[0]
            for (event, r), outcome in EXPECTED.items()
            if r == recipient and outcome[0] != "deny"
        }
        feed = feed_of(bus.settings, bus.topics.deliveries(recipient), expected=len(wanted))
        assert {event: [m["decision"] for m in ms] for event, ms in feed.items()} == {
            event: [decision] for event, decision in wanted.items()
        }, recipient
    assert Counter(label for label, *_ in EXPECTED.values()) == Counter(
        d.decision.label for d in decisions
    )
