"""The index of active entries: which other agency's lookout or operation a new one is in
conflict with. Pure and in memory; the service keeps it durable on its changelog.

Lookups are by normalized identifier (a dict from identifier to the event ids holding it)
and, for operations, by area code with the circles compared pairwise (operations are few:
hundreds, against the millions of identifiers of lookouts). Entries of the same agency never
conflict (an agency deconflicts internally), nor do expired or closed ones, nor a pair
already told (each pair is told once per kind, whatever versions follow).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

from intelbus.deconflict.entries import Entry
from intelbus.deconflict.identifiers import IDENTIFIER_TYPES, Identifier
from intelbus.models import DeconflictionMatch

__all__ = ["Conflict", "Index", "told_key"]

_RANK = {kind: rank for rank, kind in enumerate(IDENTIFIER_TYPES)}


def told_key(match: DeconflictionMatch, event_id: str) -> str:
    return f"{match.value}:{event_id}"


@dataclass(frozen=True)
class Conflict:
    other: Entry
    match: DeconflictionMatch
    identifier: Identifier | None  # the one reported (by type only), for SAME_TARGET

    def from_eu_pnr(self, entry: Entry) -> bool:
        """Did the matched identifier come from EU PNR, in ``entry`` (the event that found
        the conflict) or in the other? Both notices of a pair ask about both entries."""
        return self.identifier is not None and (
            self.identifier in entry.eu_pnr or self.identifier in self.other.eu_pnr
        )


class Index:
    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._holders: dict[Identifier, str | set[str]] = {}  # one holder kept without a set
        self._operations: dict[str, Entry] = {}
        self._expiry: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def identifiers(self) -> int:
        return len(self._holders)

    def get(self, event_id: str) -> Entry | None:
        return self._entries.get(event_id)

    def load(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self.put(entry)

    def put(self, entry: Entry) -> None:
        """Add or replace ``entry`` (a closed one is dropped: a tombstone)."""
        self.remove(entry.event_id)
        if entry.closed:
            return
        self._entries[entry.event_id] = entry
        for identifier in entry.identifiers:
            held = self._holders.get(identifier)
            if held is None:
                self._holders[identifier] = entry.event_id
            elif isinstance(held, str):
                self._holders[identifier] = {held, entry.event_id}
            else:
                held.add(entry.event_id)
        if entry.place is not None:
            self._operations[entry.event_id] = entry
        heapq.heappush(self._expiry, (entry.expires_ms, entry.event_id))

    def remove(self, event_id: str) -> None:
        old = self._entries.pop(event_id, None)
        if old is None:
            return
        self._operations.pop(event_id, None)
        for identifier in old.identifiers:
            held = self._holders[identifier]
            if isinstance(held, str) or len(held) == 1:
                del self._holders[identifier]
            else:
                held.discard(event_id)
                if len(held) == 1:
                    self._holders[identifier] = next(iter(held))

    def due(self, now_ms: int) -> list[Entry]:
        """Entries whose expiry passed (the caller closes each)."""
        found = []
        while self._expiry and self._expiry[0][0] <= now_ms:
            expires, event_id = heapq.heappop(self._expiry)
            entry = self._entries.get(event_id)
            if entry is not None and entry.expires_ms == expires:
                found.append(entry)
        return found

    def conflicts(self, entry: Entry, now_ms: int) -> list[Conflict]:
        """Every active entry of another agency in conflict with ``entry`` and not yet told."""
        matched: dict[str, list[Identifier]] = {}
        for identifier in entry.identifiers:
            held = self._holders.get(identifier)
            for event_id in (held,) if isinstance(held, str) else held or ():
                matched.setdefault(event_id, []).append(identifier)
        found = []
        for event_id, identifiers in sorted(matched.items()):
            other = self._other(entry, event_id, DeconflictionMatch.SAME_TARGET, now_ms)
            if other is not None:
                found.append(
                    Conflict(
                        other, DeconflictionMatch.SAME_TARGET, _best(identifiers, entry, other)
                    )
                )
        if entry.place is not None:
            for event_id, operation in sorted(self._operations.items()):
                assert operation.place is not None
                other = self._other(entry, event_id, DeconflictionMatch.PLACE_AND_TIME, now_ms)
                if other is not None and entry.place.overlaps(operation.place):
                    found.append(Conflict(other, DeconflictionMatch.PLACE_AND_TIME, None))
        return found

    def _other(
        self, entry: Entry, event_id: str, match: DeconflictionMatch, now_ms: int
    ) -> Entry | None:
        other = self._entries.get(event_id)
        if (
            other is None
            or event_id == entry.event_id
            or other.agency == entry.agency
            or other.expires_ms <= now_ms
            or told_key(match, event_id) in entry.told
            or told_key(match, entry.event_id) in other.told
        ):
            return None
        return other


def _best(identifiers: list[Identifier], entry: Entry, other: Entry) -> Identifier:
    """The identifier a notice names: one not from EU PNR if any (so that more than the
    primary receivers may be told), then the most specific type."""

    def rank(identifier: Identifier) -> tuple[bool, int, str]:
        pnr = identifier in entry.eu_pnr or identifier in other.eu_pnr
        return (pnr, _RANK[identifier.type], identifier.value)

    return min(identifiers, key=rank)
