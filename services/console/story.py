"""An event's whole story from its decisions: every recipient's decision per version, and
the sections a reviewer asks about. A feature that records its own decisions (deconfliction
notices, when they land) adds a section to ``SECTIONS``: a title and which decisions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consumers.console_store.store import StoredDecision
from intelbus.models import Decision, PolicyDecision

__all__ = ["SECTIONS", "Section", "Story"]

_NOTICES = {Decision.WITHDRAW, Decision.EXPIRE, Decision.ESCALATE}
_HIT_RULES = {"hit", "hit-escalation", "case-outcome"}


@dataclass(frozen=True)
class Section:
    title: str
    holds: Callable[[PolicyDecision], bool]
    empty: str  # said when no decision belongs


SECTIONS: list[Section] = [
    Section(
        "Onward transfers",
        lambda d: d.onward_transfer,
        "No onward transfer: nothing went further under an authorization.",
    ),
    Section(
        "Fields removed or masked",
        lambda d: bool(d.removed_fields),
        "Every delivery was whole.",
    ),
    Section(
        "Withdrawals, expiry and escalations",
        lambda d: d.decision in _NOTICES,
        "No lifecycle notice.",
    ),
    Section(
        "Hits and case outcomes",
        lambda d: bool(_HIT_RULES.intersection(d.rules)),
        "No hit or outcome reported.",
    ),
]


class Story:
    def __init__(self, rows: list[StoredDecision]) -> None:
        self.rows = rows
        self.versions = sorted({r.decision.event_version for r in rows})
        self.recipients = sorted({r.decision.recipient for r in rows})
        self.policies = sorted({r.decision.policy_version for r in rows})

    def by_version(self) -> list[tuple[int, list[StoredDecision]]]:
        return [(v, [r for r in self.rows if r.decision.event_version == v]) for v in self.versions]

    def sections(self) -> list[tuple[Section, list[StoredDecision]]]:
        return [(s, [r for r in self.rows if s.holds(r.decision)]) for s in SECTIONS]
