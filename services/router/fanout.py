"""What the router produces for one inbound message: a pure fan-out, no Kafka client.

For a decoded event, per recipient of the policy set: its view on its feed (each distinct
view encoded once; a whole delivery is the decoded event as our codec writes it: the input
itself only when the reader proved it to be exactly that), and one decision record on the
decisions topic, keyed by its chain; when the policy failed closed, the input also goes
to the dead letter. Rejected input goes to the dead letter only. At commit, every chain that
moved gets a signed seal.

A lane with a lifecycle (lookouts: services/router/lifecycle.py) decides every version
against what each recipient holds: a recipient that may not see a new version gets a
withdrawal notice instead; a version not newer than the last changes nothing (each
recipient's decision says so); only the event's originator may update or withdraw it; a
withdrawal or an expiry is a notice to every holder. Each notice is a decision record. A
case outcome goes to the feed of the originator of the lookout it reports on (the
memorandum's feedback), as a decision record too. A hit report goes to the originator's
feed at once and opens a deadline (policies/hits.yaml, by the lookout's priority); the
originator's answer goes to the reporter's; a deadline passed unanswered escalates, once: a
notice on the originator's watch (alerts) topic and one to the reporter.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

import structlog

from intelbus.headers import DeadLetterHeaders, DeliveryHeaders, Headers
from intelbus.models import (
    CaseOutcome,
    Decision,
    DeconflictionCheck,
    DeconflictionMatch,
    DeconflictionNotice,
    EventKind,
    HitAnswer,
    HitReport,
    LifecycleNotice,
    Lookout,
    NoticeKind,
    OfficerSafetyAlert,
    Priority,
    Withdrawal,
)
from intelbus.policy.deconfliction import notice_verdict
from intelbus.policy.engine import PolicyEngine, Verdict
from intelbus.policy.hits import HitDeadlines
from intelbus.position import Position
from intelbus.reader import Decoded, Rejected
from services.router.decisions import ChainBook, EventRef, avro_dict
from services.router.lifecycle import EventState, Lifecycle, millis
from services.router.serdes import Codecs

__all__ = ["Fanout", "FanoutTopics", "Inbound", "Outbound"]

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class Inbound:
    """One consumed message: where it sits, its key and its bytes."""

    position: Position
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to produce."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None
    partition: int = -1  # -1: by key


@dataclass(frozen=True)
class FanoutTopics:
    """Where a lane writes: each recipient's feed (or alerts) topic, decisions, dead letter."""

    feeds: Mapping[str, str]
    decisions: str
    dead_letter: str
    # Inbound topic -> the agency whose publisher alone may write it (the proven originator).
    originators: Mapping[str, str]
    lifecycle: str | None = None  # the changelog of a lane that keeps events' state
    watch: Mapping[str, str] | None = None  # each recipient's alerts topic: escalations
    # Each recipient's feed and alerts topics, on the lane that routes deconfliction notices
    # (which only the deconfliction service may write: the broker proves their origin).
    notices: tuple[str, Mapping[str, str], Mapping[str, str]] | None = None


class _Views:
    """Encodes each distinct view of one event once; a whole delivery is the decoded event's
    wire bytes (intelbus.reader.Decoded.wire), never bytes the policy engine did not see."""

    def __init__(self, whole: bytes, codecs: Codecs) -> None:
        self._whole = whole
        self._codecs = codecs
        self._cache: dict[tuple[Decision, tuple[str, ...]], bytes] = {}

    def encode(self, verdict: Verdict) -> bytes:
        if verdict.decision is Decision.DELIVER:
            return self._whole
        key = (verdict.decision, verdict.removed_fields)
        encoded = self._cache.get(key)
        if encoded is None:
            assert verdict.view is not None
            codec = (
                self._codecs.pointer if verdict.decision is Decision.POINTER else self._codecs.event
            )
            encoded = codec.encode(verdict.view)
            self._cache[key] = encoded
        return encoded


class Fanout:
    """Routes inbound messages of one lane; ``counts`` tallies decisions, events and dead
    letters for the lane's statistics. ``lifecycle`` is the lane's event state, if it keeps
    one (then ``topics.lifecycle`` names its changelog)."""

    def __init__(
        self,
        engine: PolicyEngine,
        chains: ChainBook,
        topics: FanoutTopics,
        codecs: Codecs,
        router: str,
        *,
        lifecycle: Lifecycle | None = None,
        hit_deadlines: HitDeadlines | None = None,
    ) -> None:
        self._engine = engine
        self._chains = chains
        self._topics = topics
        self._codecs = codecs
        self._router = router  # named in every dead letter
        self._lifecycle = lifecycle
        self._hit_deadlines = hit_deadlines
        self._recipients = list(engine.policy.recipients)
        self._log = log.bind(router=router)
        self.counts: Counter[str] = Counter()

    def route(self, inbound: Inbound, decoded: Decoded, at: dt.datetime) -> list[Outbound]:
        """Every recipient's view and decision record (decided at ``at``), and the dead
        letter if the policy failed closed; for a withdrawal, every holder's notice."""
        event, value = decoded.record, inbound.value
        if isinstance(event, DeconflictionNotice | DeconflictionCheck):
            return self._deconfliction(inbound, event, decoded, at)
        assert isinstance(event, Routed)
        assert value is not None
        claimed = _claimed_agency(event)
        proven = self._topics.originators.get(inbound.position.topic)
        if proven is None or proven.upper() != claimed.upper():
            return [
                self._dead_letter(
                    inbound,
                    "originator-mismatch",
                    f"{event.event_id} declares originator {claimed!r} but was "
                    f"published on {inbound.position.topic} (publisher of {proven or 'nobody'})",
                )
            ]
        state = self._lifecycle.get(event.event_id) if self._lifecycle else None
        if isinstance(event, CaseOutcome):
            return self._outcome(inbound, event, decoded, state, at)
        if isinstance(event, HitReport):
            return self._hit(inbound, event, decoded, state, at)
        if state is not None and state.originator.upper() != proven.upper():
            return [
                self._dead_letter(
                    inbound,
                    "not-originator",
                    f"{event.event_id} was published by {state.originator}: only it may update "
                    f"or withdraw it, not {proven}",
                )
            ]
        if isinstance(event, HitAnswer):
            return self._answer(inbound, event, decoded, state, at)
        if isinstance(event, Withdrawal):
            if state is None or state.closed is not None:
                why = "was never routed" if state is None else f"is already {state.closed}"
                return [self._dead_letter(inbound, "unknown-event", f"{event.event_id} {why}")]
            return self._close(state, NoticeKind.WITHDRAWN, event.reason, at)
        if state is not None and (event.version <= state.version or state.closed is not None):
            return self._stale(inbound, event, state, at)
        return self._decide(inbound, event, decoded, state, at)

    def _decide(
        self,
        inbound: Inbound,
        event: Lookout | OfficerSafetyAlert,
        decoded: Decoded,
        state: EventState | None,
        at: dt.datetime,
    ) -> list[Outbound]:
        views = _Views(decoded.wire, self._codecs)
        version = self._engine.policy.version
        outbound: list[Outbound] = []
        failed: Verdict | None = None
        held: dict[str, str] = {}
        for recipient in self._recipients:
            verdict = self._engine.evaluate(event, decoded.fields, recipient, at)
            if verdict.view is None and state is not None and recipient in state.held:
                # It holds an earlier version it may no longer see: tell it to stop using it.
                why = f"version {event.version} may no longer be seen: {verdict.reason}"
                withdraw = _notice_verdict(recipient, Decision.WITHDRAW, verdict.rules, why)
                outbound += self._notice(
                    event, withdraw, source=inbound.position, originator=state.originator, at=at
                )
                continue
            feed = self._topics.feeds[recipient] if verdict.view is not None else None
            chain, decision = self._chains.decision(inbound.position, event, verdict, feed, at)
            if feed is not None:
                held[recipient] = verdict.decision.label
                headers = DeliveryHeaders(
                    event.event_id,
                    verdict.decision.label,
                    verdict.rules,
                    verdict.removed_fields,
                    decision["decisionId"],
                    version,
                )
                outbound.append(
                    Outbound(feed, inbound.key, views.encode(verdict), headers.encode())
                )
            outbound.append(
                Outbound(
                    self._topics.decisions,
                    chain.encode(),
                    self._codecs.decision.encode(avro_dict(decision)),
                )
            )
            self.counts[verdict.decision.label] += 1
            if "fail-closed" in verdict.rules:
                failed = verdict
        if failed is not None:
            outbound.append(
                self._dead_letter(inbound, "fail-closed", failed.error or failed.reason)
            )
        if self._lifecycle is not None and isinstance(event, Lookout):
            position = inbound.position
            outbound.append(
                self._remember(
                    EventState(
                        event.event_id,
                        event.originator.agency,
                        event.version,
                        millis(event.valid_until),
                        (position.topic, position.partition, position.offset),
                        held,
                        priority=event.priority.value,
                        hits=state.hits if state else {},
                    )
                )
            )
        self.counts["events"] += 1
        return outbound

    def _stale(
        self,
        inbound: Inbound,
        event: Lookout | OfficerSafetyAlert,
        state: EventState,
        at: dt.datetime,
    ) -> list[Outbound]:
        """A version not newer than the last (or of a closed event): each recipient's
        decision records that it changed nothing."""
        why = (
            f"version {event.version} arrived after version {state.version}: it changes nothing"
            if state.closed is None
            else f"the event is {state.closed}: version {event.version} changes nothing"
        )
        outbound = []
        for recipient in self._recipients:
            verdict = _notice_verdict(recipient, Decision.DENY, ("stale-version",), why)
            chain, decision = self._chains.decision(inbound.position, event, verdict, None, at)
            outbound.append(
                Outbound(
                    self._topics.decisions,
                    chain.encode(),
                    self._codecs.decision.encode(avro_dict(decision)),
                )
            )
        self.counts["stale-version"] += 1
        return outbound

    def _outcome(
        self,
        inbound: Inbound,
        outcome: CaseOutcome,
        decoded: Decoded,
        state: EventState | None,
        at: dt.datetime,
    ) -> list[Outbound]:
        """The outcome, whole, on the feed of each recipient that is the originator alone."""
        if state is None:
            why = f"outcome {outcome.outcome_id} reports on {outcome.event_id}, never routed"
            return [self._dead_letter(inbound, "unknown-event", why)]
        homes = self._homes(state.originator)
        if not homes:
            why = f"{state.originator}, originator of {outcome.event_id}, has no feed of its own"
            return [self._dead_letter(inbound, "no-originator-feed", why)]
        reason = (
            f"your lookout {outcome.event_id} led to {outcome.outcome.value} "
            f"({outcome.reported_by}): {outcome.detail}"
        )
        self.counts["outcome"] += 1
        return self._forward(
            inbound,
            decoded,
            state=state,
            recipients=homes,
            rules=("case-outcome",),
            reason=reason,
            at=at,
        )

    def _hit(
        self,
        inbound: Inbound,
        hit: HitReport,
        decoded: Decoded,
        state: EventState | None,
        at: dt.datetime,
    ) -> list[Outbound]:
        """The hit, whole, on the originator's feeds at once, and its deadline opened."""
        if state is None or state.closed is not None:
            why = "was never routed" if state is None else f"is {state.closed}"
            return [self._dead_letter(inbound, "unknown-event", f"hit on {hit.event_id}: {why}")]
        if hit.hit_id in state.hits:
            return [self._dead_letter(inbound, "duplicate-hit", f"{hit.hit_id} already reported")]
        homes = self._homes(state.originator)
        if not homes:
            why = f"{state.originator}, originator of {hit.event_id}, has no feed of its own"
            return [self._dead_letter(inbound, "no-originator-feed", why)]
        assert self._hit_deadlines is not None
        deadline = at + self._hit_deadlines.deadline(Priority(state.priority))
        reason = (
            f"hit {hit.hit_id} by {hit.reported_by} at {hit.place}: confirm or decline by "
            f"{deadline.isoformat()} ({state.priority.lower()})"
        )
        outbound = self._forward(
            inbound, decoded, state=state, recipients=homes, rules=("hit",), reason=reason, at=at
        )
        opened = {"reporter": hit.reported_by, "deadline_ms": millis(deadline), "status": "open"}
        outbound.append(self._remember(replace(state, hits={**state.hits, hit.hit_id: opened})))
        self.counts["hit"] += 1
        return outbound

    def _answer(
        self,
        inbound: Inbound,
        answer: HitAnswer,
        decoded: Decoded,
        state: EventState | None,
        at: dt.datetime,
    ) -> list[Outbound]:
        """The originator's answer, whole, on the reporter's feeds; the hit closed."""
        hit = state.hits.get(answer.hit_id) if state else None
        if state is None or hit is None:
            why = f"{answer.hit_id} on {answer.event_id} was never reported"
            return [self._dead_letter(inbound, "unknown-hit", why)]
        if hit["status"] not in ("open", "escalated"):
            why = f"{answer.hit_id} is already {hit['status']}"
            return [self._dead_letter(inbound, "already-answered", why)]
        status = "confirmed" if answer.confirmed else "declined"
        reason = f"{answer.answered_by} {status} hit {answer.hit_id}: {answer.detail}"
        outbound = self._forward(
            inbound,
            decoded,
            state=state,
            recipients=self._homes(hit["reporter"]),
            rules=(f"hit-{status}",),
            reason=reason,
            at=at,
        )
        answered = {**hit, "status": status}
        hits = {**state.hits, answer.hit_id: answered}
        outbound.append(self._remember(replace(state, hits=hits)))
        return outbound

    def escalate(self, state: EventState, hit_id: str, at: dt.datetime) -> list[Outbound]:
        """A hit unanswered at its deadline: an alert on the originator's watch (alerts)
        topic and a notice to the reporter, each a decision; the hit marked escalated."""
        hit = state.hits[hit_id]
        assert self._topics.watch is not None
        watch, feeds = self._topics.watch, self._topics.feeds
        reason = (
            f"hit {hit_id} by {hit['reporter']} on {state.event_id} unanswered by "
            f"{state.originator} at its deadline"
        )
        ref = EventRef(state.event_id, state.version, EventKind.LOOKOUT.value)
        targets = [(r, watch[r]) for r in self._homes(state.originator)]
        targets += [(r, feeds[r]) for r in self._homes(hit["reporter"])]
        outbound = []
        for recipient, topic in targets:
            verdict = _notice_verdict(recipient, Decision.ESCALATE, ("hit-escalation",), reason)
            outbound += self._notice(
                ref, verdict, source=state.position, originator=state.originator, at=at, topic=topic
            )
        escalated = {**hit, "status": "escalated"}
        outbound.append(self._remember(replace(state, hits={**state.hits, hit_id: escalated})))
        self.counts["escalation"] += 1
        return outbound

    def _deconfliction(
        self,
        inbound: Inbound,
        notice: DeconflictionNotice | DeconflictionCheck,
        decoded: Decoded,
        at: dt.datetime,
    ) -> list[Outbound]:
        """A notice, whole, to each recipient the deconfliction rules let know (a same-target
        notice on its feed, a place-and-time conflict on its alerts); a decision for each. A
        question (a check) is logged for each recipient and delivered to none."""
        assert self._topics.notices is not None
        source, feeds, alerts = self._topics.notices
        if inbound.position.topic != source:
            why = f"a deconfliction record on {inbound.position.topic}, not on {source}"
            return [self._dead_letter(inbound, "originator-mismatch", why)]
        if isinstance(notice, DeconflictionCheck):
            return self._question(inbound, notice, at)
        topics = alerts if notice.match is DeconflictionMatch.PLACE_AND_TIME else feeds
        ref = EventRef(notice.notice_id, 1, EventKind.DECONFLICTION_NOTICE.value)
        outbound = []
        for recipient in self._recipients:
            verdict = notice_verdict(self._engine.policy, notice, recipient)
            topic = topics[recipient] if verdict.decision is Decision.DELIVER else None
            chain, decision = self._chains.decision(inbound.position, ref, verdict, topic, at)
            if topic is not None:
                headers = DeliveryHeaders(
                    notice.notice_id,
                    verdict.decision.label,
                    verdict.rules,
                    (),
                    decision["decisionId"],
                    self._engine.policy.version,
                )
                outbound.append(Outbound(topic, inbound.key, decoded.wire, headers.encode()))
            outbound.append(
                Outbound(
                    self._topics.decisions,
                    chain.encode(),
                    self._codecs.decision.encode(avro_dict(decision)),
                )
            )
            self.counts[f"deconfliction-{verdict.decision.label}"] += 1
        return outbound

    def _question(
        self, inbound: Inbound, check: DeconflictionCheck, at: dt.datetime
    ) -> list[Outbound]:
        asker = check.asked_by
        why = f"asked by {asker.agency} ({asker.point_of_contact}): {check.purpose}"
        ref = EventRef(check.check_id, 1, EventKind.DECONFLICTION_CHECK.value)
        outbound = []
        for recipient in self._recipients:
            verdict = _notice_verdict(recipient, Decision.DENY, ("deconfliction-check",), why)
            chain, decision = self._chains.decision(inbound.position, ref, verdict, None, at)
            outbound.append(
                Outbound(
                    self._topics.decisions,
                    chain.encode(),
                    self._codecs.decision.encode(avro_dict(decision)),
                )
            )
        self.counts["deconfliction-check"] += 1
        return outbound

    def _homes(self, agency: str) -> list[str]:
        """The recipients that are ``agency`` alone: its own feeds."""
        return [r for r in self._recipients if self._engine.policy.recipients[r].only(agency)]

    def _forward(
        self,
        inbound: Inbound,
        decoded: Decoded,
        *,
        state: EventState,
        recipients: list[str],
        rules: tuple[str, ...],
        reason: str,
        at: dt.datetime,
    ) -> list[Outbound]:
        """The record read (an outcome, a hit, an answer), whole, on ``recipients``' feeds,
        each a DELIVER decision about the event under ``rules``."""
        ref = EventRef(state.event_id, state.version, EventKind.LOOKOUT.value)
        outbound = []
        for recipient in recipients:
            verdict = _notice_verdict(recipient, Decision.DELIVER, rules, reason)
            feed = self._topics.feeds[recipient]
            chain, decision = self._chains.decision(inbound.position, ref, verdict, feed, at)
            headers = DeliveryHeaders(
                state.event_id,
                Decision.DELIVER.label,
                rules,
                (),
                decision["decisionId"],
                self._engine.policy.version,
            )
            outbound += [
                Outbound(feed, inbound.key, decoded.wire, headers.encode()),
                Outbound(
                    self._topics.decisions,
                    chain.encode(),
                    self._codecs.decision.encode(avro_dict(decision)),
                ),
            ]
        return outbound

    def expire(self, state: EventState, at: dt.datetime) -> list[Outbound]:
        """Every holder's expiry notice of an event whose validUntil passed."""
        why = f"validUntil {state.valid_until.isoformat()} passed"
        return self._close(state, NoticeKind.EXPIRED, why, at)

    def _close(
        self, state: EventState, kind: NoticeKind, reason: str, at: dt.datetime
    ) -> list[Outbound]:
        """Every holder's notice, and the event closed in the changelog."""
        decision = Decision.WITHDRAW if kind is NoticeKind.WITHDRAWN else Decision.EXPIRE
        rule = "withdrawn" if kind is NoticeKind.WITHDRAWN else "expired"
        ref = EventRef(state.event_id, state.version, EventKind.LOOKOUT.value)
        outbound = []
        for recipient in state.held:
            verdict = _notice_verdict(recipient, decision, (rule,), reason)
            outbound += self._notice(
                ref, verdict, source=state.position, originator=state.originator, at=at
            )
        outbound.append(self._remember(replace(state, held={}, closed=rule)))
        return outbound

    def _notice(
        self,
        event: Lookout | OfficerSafetyAlert | EventRef,
        verdict: Verdict,
        *,
        source: Position,
        originator: str,
        at: dt.datetime,
        topic: str | None = None,
    ) -> list[Outbound]:
        """A notice to ``verdict.recipient`` (a WITHDRAW, EXPIRE or ESCALATE verdict) on its
        feed (or ``topic``) and its decision record."""
        decision_kind = verdict.decision
        kind = _NOTICE_OF[decision_kind]
        feed = topic or self._topics.feeds[verdict.recipient]
        chain, decision = self._chains.decision(source, event, verdict, feed, at)
        notice = LifecycleNotice(
            event_id=event.event_id,
            event_version=event.version,
            notice=kind,
            reason=verdict.reason,
            notice_at=at,
            originator_agency=originator,
        )
        headers = DeliveryHeaders(
            event.event_id,
            decision_kind.label,
            verdict.rules,
            (),
            decision["decisionId"],
            self._engine.policy.version,
        )
        self.counts[decision_kind.label] += 1
        return [
            Outbound(
                feed,
                event.event_id.encode(),
                self._codecs.notice.encode(notice.to_avro()),
                headers.encode(),
            ),
            Outbound(
                self._topics.decisions,
                chain.encode(),
                self._codecs.decision.encode(avro_dict(decision)),
            ),
        ]

    def _remember(self, state: EventState) -> Outbound:
        """The state into the lane's lifecycle (pending until the transaction commits) and
        onto its changelog, in the inbound partition it came from."""
        assert self._lifecycle is not None
        assert self._topics.lifecycle is not None
        self._lifecycle.put(state)
        return Outbound(
            self._topics.lifecycle,
            state.event_id.encode(),
            state.encode(),
            partition=state.source[1],
        )

    def reject(self, inbound: Inbound, rejected: Rejected) -> list[Outbound]:
        """Input that is not a valid event: the dead letter, with why."""
        return [self._dead_letter(inbound, rejected.reason, rejected.detail)]

    def seals(self, at: dt.datetime) -> list[Outbound]:
        """A signed seal (sealed at ``at``) of every chain that moved since the last commit."""
        outbound = []
        for topic, partition in self._chains.moved():
            chain, seal = self._chains.seal(topic, partition, at)
            outbound.append(
                Outbound(
                    self._topics.decisions,
                    chain.encode(),
                    self._codecs.seal.encode(avro_dict(seal)),
                )
            )
        return outbound

    def _dead_letter(self, inbound: Inbound, reason: str, detail: str) -> Outbound:
        source = str(inbound.position)
        headers = DeadLetterHeaders(reason, detail, source, self._router)
        self.counts["dead-letter"] += 1
        self._log.warning("router.dead_letter", reason=reason, detail=detail[:300], source=source)
        return Outbound(self._topics.dead_letter, inbound.key, inbound.value, headers.encode())


_NOTICE_OF = {
    Decision.WITHDRAW: NoticeKind.WITHDRAWN,
    Decision.EXPIRE: NoticeKind.EXPIRED,
    Decision.ESCALATE: NoticeKind.HIT_UNANSWERED,
}

# What a lane reads: events, and (the lookout lane) what happens to them.
Routed = Lookout | OfficerSafetyAlert | Withdrawal | CaseOutcome | HitReport | HitAnswer


def _claimed_agency(record: Routed) -> str:
    """The agency a record says it comes from: the topic's publisher must be that agency."""
    match record:
        case HitReport():
            return record.reported_by
        case HitAnswer():
            return record.answered_by
        case Withdrawal():
            return record.originator
        case CaseOutcome():
            return record.reported_by
    return record.originator.agency


def _notice_verdict(
    recipient: str, decision: Decision, rules: tuple[str, ...], reason: str
) -> Verdict:
    """The verdict behind a decision that delivers no view of the event."""
    return Verdict(recipient, decision, rules, (), (), False, False, False, (), reason, None, None)
