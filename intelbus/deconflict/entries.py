"""One active entry of the deconfliction index: what a match needs of a lookout or an
operation, and nothing of its content (no narrative, no names in clear beyond the normalized
identifiers, which never leave the service).

An entry travels on the service's compacted changelog as JSON, keyed by its event id; its
decoding is bounded and strict (the changelog is written only by the service, but a
corrupt record must stop it with a clear error rather than build a wrong index).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Any

from intelbus.deconflict.identifiers import Identifier, identifiers, phone
from intelbus.deconflict.place import Place
from intelbus.errors import IntelbusError
from intelbus.models import DeconflictionCheck, Lookout, Operation, PnrSourceRegion

__all__ = ["MAX_ENTRY_BYTES", "Entry", "from_check", "from_lookout", "from_operation"]

MAX_ENTRY_BYTES = 1_048_576  # far above any real entry: a bound before json.loads


def millis(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass(frozen=True)
class Entry:
    event_id: str
    version: int
    agency: str
    point_of_contact: str
    expires_ms: int  # the lookout's validUntil, the operation's windowEnd
    identifiers: frozenset[Identifier]
    eu_pnr: frozenset[Identifier] = frozenset()  # those that came from EU PNR
    markings: frozenset[str] = frozenset()
    place: Place | None = None  # operations only
    task_force: str | None = None
    told: frozenset[str] = frozenset()  # event ids already in conflict with it: told once
    closed: bool = False  # a tombstone: expired (the changelog keeps it till compacted)

    def with_told(self, *event_ids: str) -> Entry:
        return replace(self, told=self.told | set(event_ids))

    def encode(self) -> bytes:
        data: dict[str, Any] = {
            "event_id": self.event_id,
            "version": self.version,
            "agency": self.agency,
            "point_of_contact": self.point_of_contact,
            "expires_ms": self.expires_ms,
            "identifiers": sorted([i.type, i.value] for i in self.identifiers),
            "eu_pnr": sorted([i.type, i.value] for i in self.eu_pnr),
            "markings": sorted(self.markings),
            "place": self.place.to_json() if self.place else None,
            "task_force": self.task_force,
            "told": sorted(self.told),
            "closed": self.closed,
        }
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Entry:
        if len(raw) > MAX_ENTRY_BYTES:
            raise IntelbusError(f"a deconfliction entry of {len(raw)} bytes is over the bound")
        try:
            data = json.loads(raw)
            return cls(
                event_id=str(data["event_id"]),
                version=int(data["version"]),
                agency=str(data["agency"]),
                point_of_contact=str(data["point_of_contact"]),
                expires_ms=int(data["expires_ms"]),
                identifiers=frozenset(Identifier(str(t), str(v)) for t, v in data["identifiers"]),
                eu_pnr=frozenset(Identifier(str(t), str(v)) for t, v in data["eu_pnr"]),
                markings=frozenset(str(m) for m in data["markings"]),
                place=Place.from_json(data["place"]) if data["place"] is not None else None,
                task_force=data["task_force"],
                told=frozenset(str(e) for e in data["told"]),
                closed=bool(data["closed"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise IntelbusError(f"a corrupt deconfliction entry: {error!r}") from None


def from_lookout(lookout: Lookout) -> Entry:
    """A lookout's targets until its validUntil. Everything of a lookout carrying EU PNR
    counts as from EU PNR (its subjects are as likely taken from the PNR as not: fail
    closed), and so do the PNR's contact phone numbers."""
    found = identifiers(lookout.subjects)
    eu = lookout.pnr is not None and lookout.pnr.source_region is PnrSourceRegion.EU
    if lookout.pnr is not None:
        pnr_phones = (phone(text) for text in lookout.pnr.contact_data)
        found |= {Identifier("phone", p) for p in pnr_phones if p}
    return Entry(
        event_id=lookout.event_id,
        version=lookout.version,
        agency=lookout.originator.agency.upper(),
        point_of_contact=lookout.originator.point_of_contact,
        expires_ms=millis(lookout.valid_until),
        identifiers=found,
        eu_pnr=found if eu else frozenset(),
        markings=frozenset(m.value for m in lookout.handling.markings),
    )


def from_operation(operation: Operation) -> Entry:
    """An operation's targets, place and window, until its windowEnd."""
    return Entry(
        event_id=operation.operation_id,
        version=operation.version,
        agency=operation.originator.agency.upper(),
        point_of_contact=operation.originator.point_of_contact,
        expires_ms=millis(operation.window_end),
        identifiers=identifiers(operation.targets),
        markings=frozenset(m.value for m in operation.handling.markings),
        place=Place.of(operation.place, operation.window_start, operation.window_end),
        task_force=operation.task_force,
    )


def from_check(check: DeconflictionCheck) -> Entry:
    """A question as an entry to match (never indexed): its targets, its place and window."""
    place = check.place
    return Entry(
        event_id=check.check_id,
        version=1,
        agency=check.asked_by.agency.upper(),
        point_of_contact=check.asked_by.point_of_contact,
        expires_ms=millis(check.window_end),
        identifiers=identifiers(check.targets),
        place=Place.of(place, check.window_start, check.window_end) if place else None,
    )
