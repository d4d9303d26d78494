"""The two notices of one conflict: each party is told the other's agency, point of contact,
event id and the matched identifier's type, with the flags the router's rules need (the
markings of both entries, who is ORCON originator, whether the identifier came from EU PNR).
Built only from these fields of the entries: nothing else of either event exists here."""

from __future__ import annotations

import datetime as dt
import hashlib

from intelbus.deconflict.entries import Entry
from intelbus.deconflict.index import Conflict
from intelbus.models import DeconflictionNotice, Marking

__all__ = ["notice_id", "notices"]


def notice_id(match: str, to_event: str, other_event: str) -> str:
    """The same on a replay: a pair's notice is identifiable, whoever re-derives it."""
    digest = hashlib.sha256(f"{match}\0{to_event}\0{other_event}".encode()).hexdigest()
    return f"dcf-{digest[:24]}"


def _markings(*entries: Entry) -> list[Marking]:
    known = {m.value: m for m in Marking}
    # A marking the contract lacks is kept as UNKNOWN: the router then refuses the notice.
    found = {known.get(m, Marking.UNKNOWN) for e in entries for m in e.markings}
    return sorted(found, key=lambda m: m.value)


def _to(
    to: Entry, other: Entry, conflict: Conflict, from_eu_pnr: bool, at: dt.datetime
) -> DeconflictionNotice:
    orcon = sorted({e.agency for e in (to, other) if Marking.ORCON.value in e.markings})
    return DeconflictionNotice(
        notice_id=notice_id(conflict.match.value, to.event_id, other.event_id),
        match=conflict.match,
        noticed_at=at,
        to_agency=to.agency,
        to_task_force=to.task_force,
        your_event_id=to.event_id,
        other_agency=other.agency,
        other_point_of_contact=other.point_of_contact,
        other_event_id=other.event_id,
        identifier_type=conflict.identifier.type if conflict.identifier else None,
        markings=_markings(to, other),
        orcon_agencies=orcon,
        from_eu_pnr=from_eu_pnr,
    )


def notices(entry: Entry, conflict: Conflict, at: dt.datetime) -> list[DeconflictionNotice]:
    """The notice to ``entry``'s agency and the one to the other party's; both say whether
    the matched identifier came from EU PNR in either entry (the other party's included: it
    may be the one that holds the PNR)."""
    pnr = conflict.from_eu_pnr(entry)
    return [
        _to(entry, conflict.other, conflict, pnr, at),
        _to(conflict.other, entry, conflict, pnr, at),
    ]
