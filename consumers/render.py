"""Feed items for people (one line each) and for programs (JSON)."""

from __future__ import annotations

from typing import Any

from consumers.current import CurrentEvent, Report
from consumers.feed import FeedItem
from intelbus.models import (
    CaseOutcome,
    DeconflictionMatch,
    DeconflictionNotice,
    HitAnswer,
    HitReport,
    LifecycleNotice,
    Lookout,
    NoticeKind,
    OfficerSafetyAlert,
    Pointer,
    Subjects,
)

__all__ = [
    "current_json",
    "current_line",
    "deconfliction_line",
    "item_json",
    "item_line",
    "report_line",
    "subject_of",
]


def subject_of(subjects: Subjects) -> str:
    if subjects.persons:
        person = subjects.persons[0]
        return f"{person.sur_name.upper()}, {person.given_name}"
    if subjects.vehicles:
        vehicle = subjects.vehicles[0]
        return f"vehicle {vehicle.plate or vehicle.vin}"
    if subjects.vessels:
        vessel = subjects.vessels[0]
        return f"vessel {vessel.name or vessel.hull_id or vessel.call_sign}"
    return "-"


def _origin(record: Lookout | OfficerSafetyAlert) -> str:
    agency, office = record.originator.agency, record.originator.office
    return office if office.startswith(agency) else f"{agency} {office}"


def report_line(record: Report) -> str:
    """What came of an event, on one line: when, what, and the body."""
    match record:
        case LifecycleNotice(notice=NoticeKind.HIT_UNANSWERED):
            when, what = record.notice_at, f"{'HIT UNANSWERED':<19} {'':<7}"
            body = record.reason
        case LifecycleNotice():
            when, what = record.notice_at, f"{record.notice.value:<19} v{record.event_version:<6}"
            body = f"STOP USING every version: {record.reason} (ask {record.originator_agency})"
        case CaseOutcome():
            when, what = record.reported_at, f"{'OUTCOME':<19} {record.outcome.value:<7}"
            body = f"your lookout led to {record.outcome.value}: {record.detail}"
            body += f" ({record.reported_by})"
        case HitReport():
            when, what = record.reported_at, f"{'HIT':<19} {'':<7}"
            body = f"{record.reported_by} at {record.place}: {record.detail} ({record.hit_id})"
        case HitAnswer():
            answer = "HIT CONFIRMED" if record.confirmed else "HIT DECLINED"
            when, what = record.answered_at, f"{answer:<19} {'':<7}"
            body = f"{record.answered_by}: {record.detail} ({record.hit_id})"
    return f"{when:%Y-%m-%d %H:%MZ}  {what}  {body}"


def deconfliction_line(notice: DeconflictionNotice) -> str:
    """Whom to call before acting: the other party, never what it knows."""
    if notice.match is DeconflictionMatch.PLACE_AND_TIME:
        what = f"{'OFFICER_SAFETY':<19} {'CONFLICT':<7}"
        why = "overlaps in place and time with"
    else:
        what = f"{'DECONFLICTION':<19} {'':<7}"
        why = f"shares a target ({notice.identifier_type}) with"
    body = (
        f"your {notice.your_event_id} {why} {notice.other_agency} {notice.other_event_id}: "
        f"call {notice.other_point_of_contact}"
    )
    return f"{notice.noticed_at:%Y-%m-%d %H:%MZ}  {what}  {body}"


def item_line(item: FeedItem) -> str:
    record = item.record
    if isinstance(record, Report):
        return f"{report_line(record)}  [{record.event_id}]"
    if isinstance(record, DeconflictionNotice):
        return f"{deconfliction_line(record)}  [{record.notice_id}]"
    when = record.issued_at.strftime("%Y-%m-%d %H:%MZ")
    if isinstance(record, Pointer):
        what = f"{record.category.value:<19} {record.priority.value:<7}"
        body = (
            f"POINTER   a {record.event_kind.value.lower().replace('_', ' ')} exists; ask "
            f"{record.point_of_contact} ({record.originator_agency} {record.originator_office})"
        )
    else:
        if isinstance(record, Lookout):
            what = f"{record.category.value:<19} {record.priority.value:<7}"
        else:
            armed = " ARMED" if record.armed_and_dangerous else ""
            what = f"{'OFFICER_SAFETY':<19} {record.threat_level.value + armed:<7}"
        shape = "WHOLE   " if item.decision == "deliver" else "REDACTED"
        removed = f" (removed: {', '.join(item.removed)})" if item.removed else ""
        body = f"{shape}  {subject_of(record.subjects)} - {_origin(record)}{removed}"
    return f"{when}  {what}  {body}  [{record.event_id}]"


_KINDS = {
    Lookout: "lookout",
    OfficerSafetyAlert: "alert",
    Pointer: "pointer",
    LifecycleNotice: "notice",
    CaseOutcome: "outcome",
    HitReport: "hit",
    HitAnswer: "hit-answer",
    DeconflictionNotice: "deconfliction",
}


def item_json(item: FeedItem) -> dict[str, Any]:
    return {
        "event_id": item.event_id,
        "kind": _KINDS[type(item.record)],
        "decision": item.decision,
        "rules": list(item.rules),
        "removed_fields": list(item.removed),
        "decision_id": item.decision_id,
        "offset": item.position.offset,
        "partition": item.position.partition,
        "record": item.record.to_avro(),
    }


def current_line(event_id: str, current: CurrentEvent) -> str:
    """One event's current state: its status, its latest delivery, why and what came of it."""
    shown = item_line(current.item) if current.item else f"[{event_id}]"
    line = f"{current.status.upper():<9}  {shown}"
    if current.notice is not None:
        line += f"  ({current.notice.reason})"
    for report in current.reports:
        line += f"\n{'':<11}{report_line(report)}"
    return line


def current_json(event_id: str, current: CurrentEvent) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "status": current.status,
        "latest": item_json(current.item) if current.item else None,
        "notice": current.notice.to_avro() if current.notice else None,
        "reports": [report.to_avro() for report in current.reports],
    }
