"""Exactly once across a crash (after Kafka's transactions_test.py): 10,000 events, the
router process killed with SIGKILL at >= 20% progress and restarted; every (event,
recipient) decision and delivery is then seen exactly once by a read_committed reader. Run
with one lookout worker, and with two sharing the partitions (and handing them over when they
come back)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from consumers.audit.log import read_decision_log
from consumers.audit.verify import verify_log
from intelbus import keydir
from intelbus.headers import header_map
from intelbus.settings import Settings
from intelbus.waiting import wait_for
from producers.publisher import Publisher
from services.router.progress import (
    LaneProgress,
    lane_assignments,
    routing_targets,
    wait_until_all_routed,
)
from tests.conftest import Bus
from tests.generate import lookouts
from tests.kafka_helpers import read_all

EVENTS = 10_000


def _router_process(settings: Settings, log: Path, workers: int) -> subprocess.Popen[bytes]:
    env = os.environ | settings.as_env()
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "router", "run", f"--lookout-workers={workers}"],
            env=env,
            stdout=out,
            stderr=out,
        )


def _shares_of(settings: Settings, workers: int) -> list[int] | None:
    """The partitions per member of the lookouts lane's group, once it has ``workers``."""
    shares = lane_assignments(settings, "lookouts")
    return shares if len(shares) == workers else None


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_at_20_percent_then_restart_gives_exactly_once(
    bus: Bus, tmp_path: Path, workers: int
) -> None:
    settings = bus.settings
    publisher = Publisher(settings)
    publisher.publish_batch(publisher.encode(event) for event in lookouts(EVENTS, seed=11))
    topic = bus.topics.lookouts("cbp")
    targets = routing_targets(settings, topic)
    log = tmp_path / "router.log"

    first = _router_process(settings, log, workers)
    with LaneProgress(settings, "lookouts", topic, targets) as lane:
        progress = wait_for(
            lambda: (f := lane.fraction()) >= 0.2 and f,
            timeout=120,
            what="20% of the events to be routed",
            interval=0.05,
        )
    first.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    assert progress < 1.0, "the router finished before it could be killed"

    second = _router_process(settings, log, workers)
    try:
        wait_until_all_routed(settings, timeout=300)
        # Every worker holds a share of the partitions (the group stays stable while idle).
        shares = wait_for(
            lambda: _shares_of(settings, workers),
            timeout=60,
            what=f"{workers} lookout worker(s) in the group",
        )
        assert all(share > 0 for share in shares), shares
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0, log.read_text()[-3000:]
    assert '"router.stopped"' in log.read_text()

    entries = list(read_decision_log(settings, bus.topics.decisions))
    decisions = [e.decision for e in entries if e.decision is not None]
    pairs = Counter((d.event_id, d.recipient) for d in decisions)
    recipients = {d.recipient for d in decisions}
    assert len(pairs) == EVENTS * len(recipients) == EVENTS * 5
    assert set(pairs.values()) == {1}

    for recipient in recipients:
        feed = bus.topics.feed(recipient)
        expected = {d.event_id for d in decisions if d.recipient == recipient and d.feed_topic}
        messages = read_all(settings, feed, expected=len(expected), timeout=120)
        delivered = Counter(header_map(m)["intelbus.event-id"] for m in messages)
        assert set(delivered) == expected, recipient
        assert set(delivered.values()) == {1}, recipient

    report = verify_log(entries, keydir.load_public_keys(settings.keys_dir))
    assert report.ok, report.problems[:5]
    assert report.decisions == EVENTS * 5
