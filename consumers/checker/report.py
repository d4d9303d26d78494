"""The checker's findings, with counts, for people (a table) and programs (JSON).

The headline counts are Jepsen's: lost (acknowledged but never decided, decided but never
delivered, delivered but never handled by a subscriber), duplicated (decided, delivered or
dead-lettered twice), aborted reads (a subscriber handled a record that is not committed)
and order violations (a partition's records out of their source order); then whether the
decision log's chains verify and whether every publisher got an answer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CheckReport", "SubscriberView"]

_SHOWN = 5


@dataclass
class SubscriberView:
    """What one subscriber handled of its recipient's committed deliveries."""

    handled: int = 0
    missed: int = 0  # committed deliveries it never handled
    redelivered: int = 0  # handled again after a restart (at least once: allowed)
    aborted_reads: int = 0  # handled, but no committed delivery is where it read it


@dataclass
class CheckReport:
    recipients: int = 0
    events_on_bus: int = 0  # committed records of the inbound topics
    acked: int = 0
    failed: int = 0
    unknown: int = 0  # published without an answer: a publisher left in doubt
    failures: list[str] = field(default_factory=list)  # the first distinct errors
    decisions: int = 0
    deliveries: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)  # by reason

    lost_writes: int = 0  # acknowledged, but not on the bus where the ack said
    undecided: int = 0  # (event, recipient) pairs without a decision
    decisions_without_delivery: int = 0
    duplicate_decisions: int = 0
    duplicate_deliveries: int = 0
    duplicate_dead_letters: int = 0
    deliveries_without_decision: int = 0
    decisions_without_event: int = 0  # a decision whose source is not a committed event
    misdelivered: int = 0  # a delivery on another topic, or of another event, than decided

    aborted_in_log: int = 0  # records of aborted transactions: in the log, read by none
    order_publish: int = 0
    order_decisions: int = 0
    order_deliveries: int = 0

    chains: int = 0
    seals: int = 0
    chain_problems: list[str] = field(default_factory=list)
    subscribers: dict[str, SubscriberView] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        missed = sum(view.missed for view in self.subscribers.values())
        return self.lost_writes + self.undecided + self.decisions_without_delivery + missed

    @property
    def duplicated(self) -> int:
        return self.duplicate_decisions + self.duplicate_deliveries + self.duplicate_dead_letters

    @property
    def aborted_reads(self) -> int:
        return sum(view.aborted_reads for view in self.subscribers.values())

    @property
    def order_violations(self) -> int:
        return self.order_publish + self.order_decisions + self.order_deliveries

    @property
    def unexplained(self) -> int:
        return self.deliveries_without_decision + self.decisions_without_event + self.misdelivered

    @property
    def chains_verify(self) -> bool:
        return not self.chain_problems

    @property
    def ok(self) -> bool:
        return (
            self.lost == self.duplicated == self.aborted_reads == self.order_violations == 0
            and self.unexplained == 0
            and self.unknown == 0
            and self.chains_verify
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {
            "lost": self.lost,
            "duplicated": self.duplicated,
            "aborted_reads": self.aborted_reads,
            "order_violations": self.order_violations,
            "chains_verify": self.chains_verify,
            "ok": self.ok,
        }

    def lines(self) -> list[str]:
        dead = ", ".join(f"{n} {reason}" for reason, n in sorted(self.dead_letters.items()))
        rows = [
            f"events on the bus        {self.events_on_bus} (recipients: {self.recipients})",
            f"publishers' answers      {self.acked} acked, {self.failed} failed with an error, "
            f"{self.unknown} unknown",
            *(f"  error: {failure}" for failure in self.failures[:_SHOWN]),
            f"decisions                {self.decisions}",
            f"deliveries               {self.deliveries}",
            f"dead letters             {sum(self.dead_letters.values())}"
            + (f" ({dead})" if dead else ""),
            f"aborted records in log   {self.aborted_in_log} (hidden from read_committed)",
            f"lost                     {self.lost}  (acked not on the bus {self.lost_writes}, "
            f"undecided {self.undecided}, decided not delivered "
            f"{self.decisions_without_delivery}, not handled by a subscriber "
            f"{sum(v.missed for v in self.subscribers.values())})",
            f"duplicated               {self.duplicated}  (decisions {self.duplicate_decisions}, "
            f"deliveries {self.duplicate_deliveries}, dead letters "
            f"{self.duplicate_dead_letters})",
            f"unexplained              {self.unexplained}  (deliveries without a decision "
            f"{self.deliveries_without_decision}, decisions without an event "
            f"{self.decisions_without_event}, misdelivered {self.misdelivered})",
            f"aborted reads            {self.aborted_reads}",
            f"order violations         {self.order_violations}  (publish {self.order_publish}, "
            f"decision chains {self.order_decisions}, deliveries {self.order_deliveries})",
            f"chain verify             {'OK' if self.chains_verify else 'FAILED'} "
            f"({self.chains} chains, {self.decisions} decisions, {self.seals} seals)",
            *(f"  {problem}" for problem in self.chain_problems[:_SHOWN]),
        ]
        for recipient, view in sorted(self.subscribers.items()):
            rows.append(
                f"subscriber {recipient:<13} handled {view.handled}, missed {view.missed}, "
                f"again after a restart {view.redelivered}, aborted reads {view.aborted_reads}"
            )
        rows.append(f"exactly once             {'OK' if self.ok else 'VIOLATED'}")
        return rows
