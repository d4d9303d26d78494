"""Hits on a lookout through the real router: the originator hears of a hit at once; its
answer reaches the reporter; an unanswered hit escalates once at its deadline, also when the
router was killed with SIGKILL between the hit and the deadline."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from intelbus.models import HitAnswer, HitReport, LifecycleNotice, Lookout, NoticeKind, Priority
from intelbus.settings import Settings
from intelbus.waiting import wait_for
from producers.publisher import Publisher
from services.router.progress import wait_until_all_routed
from tests import factories
from tests.conftest import Bus
from tests.router_helpers import decisions_of, feed_of, running_router


def _short_deadlines(settings: Settings, tmp_path: Path, seconds: int) -> Settings:
    """The bus's policies, with hits to be answered within ``seconds``."""
    policies = tmp_path / "policies"
    shutil.copytree(settings.policies_dir, policies)
    hits = policies / "hits.yaml"
    hits.write_text(hits.read_text().replace("URGENT: 600", f"URGENT: {seconds}"))
    return settings.model_copy(update={"policies_dir_override": policies})


def _urgent_cbp_lookout() -> Lookout:
    now = dt.datetime.now(dt.UTC)
    return factories.lookout(
        issued_at=now - dt.timedelta(minutes=1),
        valid_until=now + dt.timedelta(days=1),
        priority=Priority.URGENT,
    )


def _hit(event_id: str) -> HitReport:
    return HitReport(
        hit_id=f"hit-{uuid.uuid4().hex[:8]}",
        event_id=event_id,
        reported_by="ICE",
        reported_at=dt.datetime.now(dt.UTC),
        place="Laredo, World Trade Bridge, lane 7",
        detail="Subject in secondary; call HSI Laredo duty agent.",
    )


def test_hit_confirmed_in_time_reaches_the_reporter_and_never_escalates(
    bus: Bus, tmp_path: Path
) -> None:
    settings = _short_deadlines(bus.settings, tmp_path, 10)
    lookout = _urgent_cbp_lookout()
    publisher = Publisher(settings)
    publisher.publish(lookout)
    with running_router(settings):
        wait_until_all_routed(settings)
        hit = _hit(lookout.event_id)
        publisher.publish(hit)
        [_, reported] = feed_of(settings, [bus.topics.feed("cbp")], 2)[lookout.event_id]
        assert reported["record"] == hit
        answer = HitAnswer(
            hit_id=hit.hit_id,
            event_id=lookout.event_id,
            answered_by="CBP",
            answered_at=dt.datetime.now(dt.UTC),
            confirmed=True,
            detail="Confirmed: hold the subject, NTC calls you now.",
        )
        publisher.publish(answer)
        wait_until_all_routed(settings)
        assert dt.datetime.now(dt.UTC) - hit.reported_at < dt.timedelta(seconds=10)
        confirmed = feed_of(settings, [bus.topics.feed("ice")], 2)[lookout.event_id]
        assert [m["record"] for m in confirmed][1:] == [answer]
        # An answered hit must not escalate. A control hit, reported later and never
        # answered, escalates at its (later) deadline: by then the answered hit's has passed.
        control = _urgent_cbp_lookout()
        publisher.publish(control)
        publisher.publish(_hit(control.event_id))
        wait_for(
            lambda: any(
                d.event_id == control.event_id and d.decision.label == "escalate"
                for d in decisions_of(settings, bus.topics.decisions)
            ),
            timeout=60,
            what="the unanswered control hit to escalate",
        )
    mine = [
        d for d in decisions_of(settings, bus.topics.decisions) if d.event_id == lookout.event_id
    ]
    hits = sorted(
        (d.recipient, d.rules) for d in mine if d.rules[:1] in (["hit"], ["hit-confirmed"])
    )
    assert hits == [("cbp", ["hit"]), ("ice", ["hit-confirmed"])]
    assert not [d for d in mine if d.decision.label == "escalate"]


def _router_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "router", "run"],
            env=os.environ | settings.as_env(),
            stdout=out,
            stderr=out,
        )


def test_unanswered_hit_escalates_once_across_a_sigkill(bus: Bus, tmp_path: Path) -> None:
    settings = _short_deadlines(bus.settings, tmp_path, 8)
    lookout = _urgent_cbp_lookout()
    publisher = Publisher(settings)
    publisher.publish(lookout)
    log = tmp_path / "router.log"
    router = _router_process(settings, log)
    try:
        wait_until_all_routed(settings)
        hit = _hit(lookout.event_id)
        publisher.publish(hit)
        wait_until_all_routed(settings)
        os.kill(router.pid, signal.SIGKILL)  # between the hit and its deadline
        router.wait(30)
        assert dt.datetime.now(dt.UTC) - hit.reported_at < dt.timedelta(seconds=8)
        router = _router_process(settings, log)
        alerts = feed_of(settings, [bus.topics.alerts("cbp")], 1, timeout=60)
        notices = feed_of(settings, [bus.topics.feed("ice")], 2, timeout=60)
    finally:
        router.terminate()
        router.wait(60)
    [watch] = alerts[lookout.event_id]
    [_, told] = notices[lookout.event_id]
    for message in (watch, told):
        notice = message["record"]
        assert isinstance(notice, LifecycleNotice)
        assert (notice.notice, message["decision"]) == (NoticeKind.HIT_UNANSWERED, "escalate")
        assert hit.hit_id in notice.reason
    escalated = [
        d.recipient
        for d in decisions_of(settings, bus.topics.decisions)
        if d.event_id == lookout.event_id and d.decision.label == "escalate"
    ]
    assert sorted(escalated) == ["cbp", "ice"]
