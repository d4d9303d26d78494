"""What the router produces for one inbound message: a pure fan-out, no Kafka client.

For a decoded event, per recipient of the policy set: its view on its feed (each distinct
view encoded once; a whole delivery is the decoded event as our codec writes it: the input
itself only when the reader proved it to be exactly that), and one decision record on the
decisions topic, keyed by its chain; when the policy failed closed, the input also goes
to the dead letter. Rejected input goes to the dead letter only. At commit, every chain that
moved gets a signed seal.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from intelbus.headers import DeadLetterHeaders, DeliveryHeaders, Headers
from intelbus.models import Decision, Lookout, OfficerSafetyAlert
from intelbus.policy.engine import PolicyEngine, Verdict
from intelbus.position import Position
from intelbus.reader import Decoded, Rejected
from services.router.decisions import ChainBook, avro_dict
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


@dataclass(frozen=True)
class FanoutTopics:
    """Where a lane writes: each recipient's feed (or alerts) topic, decisions, dead letter."""

    feeds: Mapping[str, str]
    decisions: str
    dead_letter: str
    # Inbound topic -> the agency whose publisher alone may write it (the proven originator).
    originators: Mapping[str, str]


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
    letters for the lane's statistics."""

    def __init__(
        self,
        engine: PolicyEngine,
        chains: ChainBook,
        topics: FanoutTopics,
        codecs: Codecs,
        router: str,
    ) -> None:
        self._engine = engine
        self._chains = chains
        self._topics = topics
        self._codecs = codecs
        self._router = router  # named in every dead letter
        self._recipients = list(engine.policy.recipients)
        self._log = log.bind(router=router)
        self.counts: Counter[str] = Counter()

    def route(self, inbound: Inbound, decoded: Decoded, at: dt.datetime) -> list[Outbound]:
        """Every recipient's view and decision record (decided at ``at``), and the dead
        letter if the policy failed closed."""
        event, value = decoded.record, inbound.value
        assert isinstance(event, Lookout | OfficerSafetyAlert)
        assert value is not None
        proven = self._topics.originators.get(inbound.position.topic)
        if proven is None or proven.upper() != event.originator.agency.upper():
            return [
                self._dead_letter(
                    inbound,
                    "originator-mismatch",
                    f"{event.event_id} declares originator {event.originator.agency!r} but was "
                    f"published on {inbound.position.topic} (publisher of {proven or 'nobody'})",
                )
            ]
        views = _Views(decoded.wire, self._codecs)
        version = self._engine.policy.version
        outbound: list[Outbound] = []
        failed: Verdict | None = None
        for recipient in self._recipients:
            verdict = self._engine.evaluate(event, decoded.fields, recipient, at)
            feed = self._topics.feeds[recipient] if verdict.view is not None else None
            chain, decision = self._chains.decision(inbound.position, event, verdict, feed, at)
            if feed is not None:
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
        self.counts["events"] += 1
        return outbound

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
