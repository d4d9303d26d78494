"""The current state of each event in a recipient's feed, not only the stream of versions.

The router delivers every version, notice and outcome of an event in order (they share the
event id as key, hence a partition), and never a version older than one it delivered; so
folding the feed in order gives, per event, the latest delivery (whole, redacted or a
pointer), whether it still stands, and the outcomes reported on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from consumers.feed import FeedItem
from intelbus.models import CaseOutcome, HitAnswer, HitReport, LifecycleNotice, NoticeKind

__all__ = ["CurrentEvent", "current_events"]

_STATUS = {NoticeKind.WITHDRAWN: "withdrawn", NoticeKind.EXPIRED: "expired"}
# What came of an event: outcomes and hits (to the originator), answers to hits (to the
# reporter), hits unanswered in time (to both).
Report = CaseOutcome | HitReport | HitAnswer | LifecycleNotice


@dataclass(frozen=True)
class CurrentEvent:
    """``item``: the latest delivery of the event; ``status``: current, withdrawn or expired
    (``notice`` says why); ``reports``: what came of it (:data:`Report`)."""

    item: FeedItem | None
    status: str = "current"
    notice: LifecycleNotice | None = None
    reports: tuple[Report, ...] = ()


def current_events(items: Iterable[FeedItem]) -> dict[str, CurrentEvent]:
    """Each event's current state, by event id, in the order events first appeared."""
    events: dict[str, CurrentEvent] = {}
    for item in items:
        now = events.get(item.event_id, CurrentEvent(None))
        record = item.record
        if isinstance(record, LifecycleNotice) and record.notice in _STATUS:
            now = replace(now, status=_STATUS[record.notice], notice=record)
        elif isinstance(record, Report):
            now = replace(now, reports=(*now.reports, record))
        else:
            # A new version stands again, even after a withdrawal for an earlier one.
            now = replace(now, item=item, status="current", notice=None)
        events[item.event_id] = now
    return events
