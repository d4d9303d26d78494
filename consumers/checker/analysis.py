"""Hold what was read from a bus to exactly once: a pure function of the observation, the
publishers' ack logs and the subscribers' receipts (no Kafka client here).

After Kafka's ``transactions_test.py`` (every input exactly once in the output, read
read_committed) and Jepsen's Kafka checker (lost writes, duplicates, aborted reads, order):

- every committed inbound event is decided once for every recipient (or, rejected as input,
  dead-lettered once); every acknowledged publish is such an event, where its ack says;
- every decision that names a feed has exactly one delivery there, with its decision id,
  and every delivery has its decision;
- each chain's records keep their order, and so does each feed partition per source
  partition; each publisher's acknowledged events keep the order it sent them in;
- the decision log's chains verify with the trusted keys and hold the router's committed
  chain heads (consumers/audit/verify.py);
- a subscriber handled every committed delivery, and nothing that is not committed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from consumers.audit.verify import Report
from consumers.checker.observed import Delivery, Observed
from consumers.checker.receipts import Receipt
from consumers.checker.report import CheckReport, SubscriberView
from intelbus.acks import Ack, AckStatus
from intelbus.models import PolicyDecision
from intelbus.position import Position

__all__ = ["check"]


def _source(decision: PolicyDecision) -> Position:
    return Position(decision.source_topic, decision.source_partition, decision.source_offset)


def check(
    observed: Observed,
    recipients: Sequence[str],
    chains: Report,
    acks: Iterable[Ack] = (),
    receipts: Mapping[str, Sequence[Receipt]] | None = None,
) -> CheckReport:
    """``chains`` is the audit's verification of ``observed.entries``
    (consumers/audit/verify.py)."""
    decisions = [entry.decision for entry in observed.entries if entry.decision is not None]
    report = CheckReport(
        recipients=len(recipients),
        events_on_bus=len(observed.inbound),
        decisions=len(decisions),
        deliveries=sum(map(len, observed.deliveries.values())),
        dead_letters=Counter(letter.reason for letter in observed.dead_letters),
        aborted_in_log=observed.aborted,
    )
    _decided(report, observed, decisions, recipients)
    _published(report, observed, decisions, list(acks))
    _delivered(report, observed, decisions)
    _ordered(report, observed, decisions)
    report.chains, report.seals = chains.chains, chains.seals
    report.chain_problems = [str(problem) for problem in chains.problems]
    for recipient, handled in (receipts or {}).items():
        report.subscribers[recipient] = _subscriber(observed.deliveries.get(recipient, []), handled)
    return report


def _decided(
    report: CheckReport,
    observed: Observed,
    decisions: list[PolicyDecision],
    recipients: Sequence[str],
) -> None:
    """Each inbound event decided once per recipient (or dead-lettered once)."""
    by_source: dict[Position, Counter[str]] = defaultdict(Counter)
    for decision in decisions:
        by_source[_source(decision)][decision.recipient] += 1
    dead = Counter(letter.source for letter in observed.dead_letters)
    report.duplicate_dead_letters = sum(n - 1 for n in dead.values())
    inbound = set(observed.inbound)
    for position in observed.inbound:
        decided = by_source.get(position)
        if decided is None:
            report.undecided += 0 if dead[str(position)] else len(recipients)
            continue
        for recipient in recipients:
            count = decided[recipient]
            report.undecided += count == 0
            report.duplicate_decisions += max(count - 1, 0)
    report.decisions_without_event = sum(
        sum(counts.values()) for source, counts in by_source.items() if source not in inbound
    )


def _published(
    report: CheckReport, observed: Observed, decisions: list[PolicyDecision], acks: list[Ack]
) -> None:
    """Every publish answered; every acknowledged one on the bus where its ack says, and in
    the order its publisher sent them."""
    events_at: dict[Position, set[str]] = defaultdict(set)
    for decision in decisions:
        events_at[_source(decision)].add(decision.event_id)
    inbound = set(observed.inbound)
    sent: dict[tuple[str, int], list[Ack]] = defaultdict(list)
    for ack in acks:
        match ack.status:
            case AckStatus.ACKED:
                report.acked += 1
                at = ack.position
                assert at is not None  # an acked ack has one (intelbus.acks)
                there = events_at.get(at)
                report.lost_writes += at not in inbound or (
                    there is not None and ack.event_id not in there
                )
                sent[(at.topic, at.partition)].append(ack)
            case AckStatus.FAILED:
                report.failed += 1
                if ack.error not in report.failures:
                    report.failures.append(ack.error or "")
            case AckStatus.UNKNOWN:
                report.unknown += 1
    for partition in sent.values():
        report.order_publish += _out_of_order(
            ack.offset or 0 for ack in sorted(partition, key=lambda a: a.seq)
        )


def _delivered(report: CheckReport, observed: Observed, decisions: list[PolicyDecision]) -> None:
    """Each decision naming a feed delivered there once, with its id; no other delivery."""
    decided = {d.decision_id: d for d in decisions if d.feed_topic is not None}
    expected = Counter(d.decision_id for d in decisions if d.feed_topic is not None)
    found: Counter[str] = Counter()
    for recipient, deliveries in observed.deliveries.items():
        for delivery in deliveries:
            found[delivery.decision_id] += 1
            decision = decided.get(delivery.decision_id)
            report.misdelivered += decision is not None and (
                decision.recipient != recipient
                or decision.feed_topic != delivery.position.topic
                or decision.event_id != delivery.event_id
            )
    for decision_id, count in found.items():
        if decision_id in expected:
            report.duplicate_deliveries += count - 1
        else:
            report.deliveries_without_decision += count
    report.decisions_without_delivery = sum(n for i, n in expected.items() if i not in found)


def _ordered(report: CheckReport, observed: Observed, decisions: list[PolicyDecision]) -> None:
    """Each chain in sequence and source order; each delivery partition in source order."""
    chains: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for decision in decisions:  # the log's order: offsets ascend within each partition
        chains[decision.chain].append((decision.sequence, decision.source_offset))
    for records in chains.values():
        report.order_decisions += _out_of_order(seq for seq, _ in records)
        report.order_decisions += _out_of_order((src for _, src in records), strictly=False)
    source_of = {d.decision_id: _source(d) for d in decisions}
    for deliveries in observed.deliveries.values():
        streams: dict[tuple[str, int, str, int], list[int]] = defaultdict(list)
        for delivery in deliveries:
            source = source_of.get(delivery.decision_id)
            if source is not None:
                where = delivery.position
                streams[(where.topic, where.partition, source.topic, source.partition)].append(
                    source.offset
                )
        report.order_deliveries += sum(map(_out_of_order, streams.values()))


def _out_of_order(values: Iterable[int], *, strictly: bool = True) -> int:
    """How many values are not above (``strictly``) or below the one before them."""
    count, previous = 0, None
    for value in values:
        if previous is not None and (value <= previous if strictly else value < previous):
            count += 1
        previous = value
    return count


def _subscriber(deliveries: list[Delivery], receipts: Sequence[Receipt]) -> SubscriberView:
    """What a subscriber handled against its recipient's committed deliveries."""
    committed: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for delivery in deliveries:
        committed[delivery.decision_id].add((delivery.position.partition, delivery.position.offset))
    view = SubscriberView(handled=len(receipts))
    handled: Counter[str] = Counter()
    for receipt in receipts:
        if (receipt.partition, receipt.offset) in committed.get(receipt.decision_id, set()):
            handled[receipt.decision_id] += 1
        else:
            view.aborted_reads += 1
    view.missed = sum(1 for decision_id in committed if decision_id not in handled)
    view.redelivered = sum(n - 1 for n in handled.values())
    return view
