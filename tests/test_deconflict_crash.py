"""Exactly once across a crash: 5,000 conflicts (an ICE lookout and a CBP operation on one
phone number each), the deconfliction service killed with SIGKILL at >= 20% of the
operations and restarted; a read_committed reader then sees every notice exactly once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from confluent_kafka import TopicPartition

from intelbus import clients
from intelbus.deconflict.notices import notice_id
from intelbus.models import DeconflictionMatch, Subjects
from intelbus.names import deconflict_group
from intelbus.settings import Settings
from intelbus.waiting import wait_for
from producers.publisher import Publisher
from services.deconflict.progress import wait_until_deconflicted
from services.router.progress import routing_targets
from tests import factories
from tests.conftest import Bus
from tests.deconflict_helpers import notices_of, operation

CONFLICTS = 5_000


def _service(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "deconflict", "run"],
            env=os.environ | settings.as_env(),
            stdout=out,
            stderr=out,
        )


def _fraction(settings: Settings, topic: str, targets: dict[int, int]) -> float:
    probe = clients.consumer(settings, deconflict_group(settings), "test-deconflict-crash")
    try:
        partitions = [TopicPartition(topic, p) for p in targets]
        done = sum(max(tp.offset, 0) for tp in clients.committed(probe, partitions))
        return done / sum(targets.values())
    finally:
        probe.close()


def test_sigkill_mid_stream_then_restart_gives_every_notice_exactly_once(
    bus: Bus, tmp_path: Path
) -> None:
    settings = bus.settings
    now = dt.datetime.now(dt.UTC)
    ice = factories.originator(agency="ICE", point_of_contact="SA Ortega")
    cbp = factories.originator(agency="CBP", point_of_contact="MIO Alvarez")
    phones = [f"+1 956 {n // 10_000:03d} {n % 10_000:04d}" for n in range(200, 200 + CONFLICTS)]
    lookouts = [
        factories.lookout(
            originator=ice,
            issued_at=now,
            valid_until=now + dt.timedelta(days=1),
            subjects=Subjects(phones=[phone]),
        )
        for phone in phones
    ]
    operations = [
        operation(
            originator=cbp,
            issued_at=now,
            window_start=now + dt.timedelta(hours=1),
            window_end=now + dt.timedelta(hours=9),
            targets=Subjects(phones=[phone]),
        )
        for phone in phones  # one agency's operations never conflict with each other
    ]
    publisher = Publisher(settings)
    publisher.publish_batch(publisher.encode(r) for r in lookouts)
    publisher.publish_batch(publisher.encode(r) for r in operations)
    topic = bus.topics.operations("cbp")
    targets = routing_targets(settings, topic)
    log = tmp_path / "deconflict.log"

    first = _service(settings, log)
    progress = wait_for(
        lambda: (f := _fraction(settings, topic, targets)) >= 0.2 and f,
        timeout=180,
        what="20% of the operations to be matched",
        interval=0.05,
    )
    first.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    assert progress < 1.0, "the service finished before it could be killed"

    second = _service(settings, log)
    try:
        wait_until_deconflicted(settings, timeout=300, alive=lambda: second.poll() is None)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0, log.read_text()[-3000:]
    notices = notices_of(settings, 2 * CONFLICTS, timeout=120)
    counts = Counter(n.notice_id for n in notices)
    expected = {
        notice_id(DeconflictionMatch.SAME_TARGET.value, mine, theirs)
        for lookout, op in zip(lookouts, operations, strict=True)
        for mine, theirs in (
            (lookout.event_id, op.operation_id),
            (op.operation_id, lookout.event_id),
        )
    }
    assert set(counts) == expected
    assert set(counts.values()) == {1}
