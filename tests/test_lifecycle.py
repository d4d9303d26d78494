"""The life of a lookout through the real router: updates, withdrawals and expiry reach
everyone who got the event, case outcomes reach its originator, and each is a decision in
the policy log."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

from consumers.current import CurrentEvent, current_events
from consumers.subscriber import read_feed
from intelbus.headers import DeadLetterHeaders, header_map
from intelbus.models import (
    CaseOutcome,
    Handling,
    LifecycleNotice,
    Lookout,
    Marking,
    NoticeKind,
    OutcomeKind,
    Withdrawal,
)
from producers.publisher import Publisher
from services.router.progress import wait_until_all_routed
from tests import factories
from tests.conftest import Bus
from tests.kafka_helpers import read_all
from tests.router_helpers import decisions_of, feed_of, running_router
from tests.scenarios import scenarios

_HOLDERS = ("cbp", "ice", "best-laredo")  # who gets the plain CBP lookout in LRT


def _plain(now: dt.datetime, **overrides: object) -> Lookout:
    fields: dict[str, object] = {"issued_at": now - dt.timedelta(minutes=1)}
    fields["valid_until"] = now + dt.timedelta(days=1)
    return factories.lookout(**(fields | overrides))


def _feeds(bus: Bus, recipients: tuple[str, ...], expected: dict[str, int]) -> dict:  # type: ignore[type-arg]
    return {r: feed_of(bus.settings, [bus.topics.feed(r)], expected.get(r, 0)) for r in recipients}


def _current(bus: Bus, recipient: str) -> dict[str, CurrentEvent]:
    return current_events(read_feed(bus.settings, recipient, False, threading.Event()))


def test_update_delivered_tightened_update_withdraws_late_version_ignored(bus: Bus) -> None:
    now = dt.datetime.now(dt.UTC)
    v1 = _plain(now)
    v2 = v1.model_copy(update={"version": 2, "narrative": "Now travelling with a minor."})
    # NOFORN: best-laredo has a Mexican member and loses access; cbp and ice keep it.
    noforn = Handling(markings=[Marking.LES, Marking.NOFORN])
    v3 = v1.model_copy(update={"version": 3, "handling": noforn})
    forged = v1.model_copy(
        update={
            "version": 9,
            "narrative": "Disregard: subject cleared.",
            "originator": factories.originator(agency="ICE", office="HSI Laredo"),
        }
    )
    publisher = Publisher(bus.settings)
    for version in (v1, v2, v3, v1):  # v1 again arrives late
        publisher.publish(version)

    with running_router(bus.settings):
        wait_until_all_routed(bus.settings)
        # Then ICE forges an update and a withdrawal (on its own topic: topics have no order
        # between them, so only once CBP's versions are routed).
        publisher.publish(forged)
        publisher.publish(
            Withdrawal(event_id=v1.event_id, originator="ICE", withdrawn_at=now, reason="Cleared.")
        )
        wait_until_all_routed(bus.settings)

    feeds = _feeds(bus, _HOLDERS, {"cbp": 3, "ice": 3, "best-laredo": 3})
    for recipient in ("cbp", "ice"):
        [messages] = feeds[recipient].values()
        assert [m["record"].version for m in messages] == [1, 2, 3], recipient
        assert [m["decision"] for m in messages] == ["deliver"] * 3
    [laredo] = feeds["best-laredo"].values()
    assert [m["decision"] for m in laredo] == ["deliver", "deliver", "withdraw"]
    notice = laredo[2]["record"]
    assert isinstance(notice, LifecycleNotice)
    assert (notice.event_id, notice.event_version, notice.notice) == (
        v1.event_id,
        3,
        NoticeKind.WITHDRAWN,
    )
    assert notice.reason.startswith("version 3 may no longer be seen: NOFORN")

    # The subscriber's library folds the stream into each event's current state.
    cbp_now = _current(bus, "cbp")[v1.event_id]
    assert cbp_now.status == "current"
    assert cbp_now.item is not None
    assert cbp_now.item.record == v3
    laredo_now = _current(bus, "best-laredo")[v1.event_id]
    assert (laredo_now.status, laredo_now.notice) == ("withdrawn", notice)

    # In the log: each version decided for every recipient, the withdrawal, the late v1.
    decisions = [d for d in decisions_of(bus.settings, bus.topics.decisions)]
    mine = [d for d in decisions if d.event_id == v1.event_id]
    laredo_log = [(d.event_version, d.decision.label) for d in mine if d.recipient == "best-laredo"]
    assert laredo_log == [(1, "deliver"), (2, "deliver"), (3, "withdraw"), (1, "deny")]
    late = [d for d in mine if d.event_version == 1 and "stale-version" in d.rules]
    assert len(late) == 5
    assert all(d.feed_topic is None for d in late)

    # The forgeries never reached a feed nor the log: they are refused, with why.
    assert not [d for d in mine if d.event_version == 9]
    assert [d.recipient for d in mine if d.decision.label == "withdraw"] == ["best-laredo"]
    for refused in read_all(bus.settings, bus.topics.dead_letter, 2):
        headers = DeadLetterHeaders.decode(header_map(refused))
        assert headers.reason == "not-originator"
        assert "published by CBP: only it may update or withdraw it, not ICE" in headers.detail


def test_withdrawal_reaches_whole_redacted_and_pointer_recipients(bus: Bus) -> None:
    now = dt.datetime.now(dt.UTC)
    table = {s.name: s for s in scenarios(now, tag=f"-{uuid.uuid4().hex[:6]}")}
    # orcon: whole to cbp and ice, a pointer to best-laredo; eu-pnr: redacted to ice, jttf.
    chosen = [table["orcon"], table["eu-pnr"]]
    publisher = Publisher(bus.settings)
    for scenario in chosen:
        publisher.publish(scenario.event)
    for scenario in chosen:
        event = scenario.event
        publisher.publish(
            Withdrawal(
                event_id=event.event_id,
                originator=event.originator.agency,
                withdrawn_at=now,
                reason="Entered in error.",
            )
        )

    with running_router(bus.settings):
        wait_until_all_routed(bus.settings)

    decisions = decisions_of(bus.settings, bus.topics.decisions)
    for scenario in chosen:
        held = {r for r, e in scenario.expect.items() if e.decision != "deny"}
        withdrawn = {
            d.recipient: d
            for d in decisions
            if d.event_id == scenario.event.event_id and d.decision.label == "withdraw"
        }
        assert set(withdrawn) == held, scenario.name
        for recipient in held:
            holds = [s for s in chosen if s.expect[recipient].decision != "deny"]
            feed = feed_of(bus.settings, [bus.topics.feed(recipient)], 2 * len(holds))
            assert [m["decision"] for m in feed[scenario.event.event_id]] == [
                scenario.expect[recipient].decision,
                "withdraw",
            ]
            last = feed[scenario.event.event_id][-1]
            assert last["decision"] == "withdraw"
            assert last["record"].notice is NoticeKind.WITHDRAWN
            assert last["record"].reason == "Entered in error."
    kinds = {e.decision for s in chosen for e in s.expect.values()}
    assert {"deliver", "deliver-redacted", "pointer"} <= kinds


def test_expiry_notice_on_time_also_after_a_restart(bus: Bus) -> None:
    now = dt.datetime.now(dt.UTC)
    # Valid long enough to be routed whole first, even on a loaded machine.
    soon = _plain(now, valid_until=now + dt.timedelta(seconds=15))
    Publisher(bus.settings).publish(soon)
    with running_router(bus.settings):
        wait_until_all_routed(bus.settings)
    # The router that routed it is gone before the lookout expires; a new one must notice.
    with running_router(bus.settings):
        feeds = {r: feed_of(bus.settings, [bus.topics.feed(r)], 2, timeout=60) for r in _HOLDERS}
    for recipient, feed in feeds.items():
        first, expiry = feed[soon.event_id]
        assert (first["decision"], expiry["decision"]) == ("deliver", "expire"), recipient
        notice = expiry["record"]
        assert notice.notice is NoticeKind.EXPIRED
        # Never early; how late is a figure of bench/deadlines.py, not asserted here.
        assert notice.notice_at >= soon.valid_until
    expired = [
        d
        for d in decisions_of(bus.settings, bus.topics.decisions)
        if d.event_id == soon.event_id and d.decision.label == "expire"
    ]
    assert sorted(d.recipient for d in expired) == sorted(_HOLDERS)


def test_case_outcome_reaches_the_originator_only(bus: Bus) -> None:
    now = dt.datetime.now(dt.UTC)
    ice = factories.originator(agency="ICE", office="HSI Miami")
    vessel = _plain(now, originator=ice)
    publisher = Publisher(bus.settings)
    publisher.publish(vessel)
    seizure = CaseOutcome(
        outcome_id=f"out-{uuid.uuid4().hex[:8]}",
        event_id=vessel.event_id,
        reported_by="CBP",
        reported_at=now,
        outcome=OutcomeKind.SEIZURE,
        detail="AMO Miami held LADY MARISOL 9 nm E of Key Biscayne; 412 kg cocaine seized.",
    )
    stray = seizure.model_copy(update={"outcome_id": "out-stray", "event_id": "lk-never-seen"})
    with running_router(bus.settings):
        wait_until_all_routed(bus.settings)
        # Reported once the recipients have the lookout (topics have no order between them).
        publisher.publish(seizure)
        publisher.publish(stray)
        wait_until_all_routed(bus.settings)

    [delivered] = feed_of(bus.settings, [bus.topics.feed("ice")], 2)[vessel.event_id][1:]
    assert delivered["record"] == seizure
    assert (delivered["decision"], delivered["rules"]) == ("deliver", ["case-outcome"])
    # The reporter and the other holders get the lookout, not the outcome.
    for recipient in ("cbp", "best-laredo"):
        [only] = feed_of(bus.settings, [bus.topics.feed(recipient)], 1)[vessel.event_id]
        assert only["type"] == "intelbus.Lookout"
    [logged] = [
        d
        for d in decisions_of(bus.settings, bus.topics.decisions)
        if d.event_id == vessel.event_id and d.rules == ["case-outcome"]
    ]
    assert (logged.recipient, logged.decision.label) == ("ice", "deliver")
    assert logged.reason.startswith(f"your lookout {vessel.event_id} led to SEIZURE (CBP)")
    assert _current(bus, "ice")[vessel.event_id].reports == (seizure,)
    [unknown] = read_all(bus.settings, bus.topics.dead_letter, 1)
    assert DeadLetterHeaders.decode(header_map(unknown)).reason == "unknown-event"
