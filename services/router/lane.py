"""One lane of the router: a consumer group over one inbound topic, and the loop that routes
each event exactly once.

The loop polls a batch, reads each message through the contract, asks the fan-out
(services/router/fanout.py) what to produce, and hands that to the checkpoint
(services/router/checkpoint.py), which commits it with the consumed offsets and chain heads
in ONE Kafka transaction once it is due. A crash anywhere aborts the transaction; the next
owner of the partition resumes from the last committed offsets and chain heads, and so does
this lane after an abort (it rewinds).

The lookout lane also keeps each event's state (services/router/lifecycle.py): restored
from its changelog with the partitions it is assigned, moved in the same transaction, and
the source of the expiry deadlines it fires between polls.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from intelbus import clients
from intelbus.access.principals import Principals
from intelbus.chain import SealSigner
from intelbus.models import Lookout, OfficerSafetyAlert, Record
from intelbus.names import router_group, router_transactional_id
from intelbus.policy.engine import PolicyEngine
from intelbus.policy.hits import HitDeadlines
from intelbus.policy.policyset import PolicySet
from intelbus.position import Position
from intelbus.reader import Rejected
from intelbus.serde import RegistryUnavailable
from intelbus.settings import Settings
from intelbus.topic_reader import read_to_end
from intelbus.topics import TopicMap
from services.router.authorizations import AuthorizationFeed
from services.router.checkpoint import TXN_TIMEOUT_S, Checkpoint, Retry
from services.router.decisions import ChainBook
from services.router.fanout import Fanout, FanoutTopics, Inbound
from services.router.lifecycle import EXPIRY, EventState, Lifecycle
from services.router.serdes import LaneSerdes

__all__ = ["Lane", "LaneConfig", "RouterContext", "Stopped"]

log = structlog.get_logger()


class Stopped(Exception):
    """The router was told to stop before the lane could start."""


_BATCH_MAX = 1000
_IDLE_POLL_S = 0.2
_RETRY_BACKOFF_S = 1.0


@dataclass(frozen=True)
class RouterContext:
    """What every lane of one router process shares."""

    settings: Settings
    topics: TopicMap
    policy: PolicySet
    signer: SealSigner
    stop: threading.Event
    principals: Principals
    agencies: Mapping[str, str]  # inbound topic -> the agency whose publisher writes it
    hit_deadlines: HitDeadlines


@dataclass(frozen=True)
class LaneConfig:
    name: str
    # Each inbound topic (per publisher) and the record types it may carry.
    topics: Mapping[str, tuple[type[Record], ...]]
    event_model: type[Lookout] | type[OfficerSafetyAlert]
    delivers_to: str  # the per-recipient topic role (deploy/topics.yaml): feed or alerts
    commit_interval_s: float
    # Low latency: send each produced message at once instead of lingering for a batch.
    linger_ms: int
    # Keeps each event's state: updates, withdrawals and expiry (the lookout lane).
    lifecycle: bool = False


class Lane:
    def __init__(self, context: RouterContext, config: LaneConfig) -> None:
        settings = context.settings
        self.settings = settings
        self.config = config
        self.stop = context.stop
        self.chains = ChainBook(context.signer, context.policy.version)
        self.log = log.bind(lane=config.name)
        self.serdes = self._serdes_once_registry_answers()
        self.lifecycle = Lifecycle() if config.lifecycle else None
        self.lifecycle_topic = context.topics.lifecycle
        # Each owned partition's next offset: where a timer's transaction commits it.
        self._next: dict[tuple[str, int], int] = {}
        self.group = router_group(settings, config.name)
        self.transactional_id = router_transactional_id(settings, config.name)
        topics = context.topics
        self.authorizations = AuthorizationFeed(
            settings,
            f"{self.group}.authorizations",
            {topics.authorizations(a.id): a.agency for a in context.principals.approvers},
            self.serdes.authorizations,
        )
        engine = PolicyEngine(context.policy, self.authorizations.book)
        # Topic names are looked up per message: resolve them once.
        feeds = {
            recipient: topics.of_recipient(config.delivers_to, recipient).name
            for recipient in engine.policy.recipients
        }
        self.fanout = Fanout(
            engine,
            self.chains,
            FanoutTopics(
                feeds,
                topics.decisions,
                topics.dead_letter,
                context.agencies,
                topics.lifecycle if self.lifecycle else None,
                {r: topics.alerts(r) for r in engine.policy.recipients},
                _notices(topics, config, engine.policy.recipients),
            ),
            self.serdes.codecs,
            self.transactional_id,
            lifecycle=self.lifecycle,
            hit_deadlines=context.hit_deadlines,
        )
        self.consumer: Consumer = clients.consumer(
            settings,
            self.group,
            f"router-{config.name}",
            **{
                "fetch.wait.max.ms": 100,
                # Static membership (KIP-345): a restarted instance takes its partitions back
                # at once instead of waiting for its dead predecessor's session to expire.
                "group.instance.id": self.transactional_id,
                "session.timeout.ms": 15_000,
                # Partition p of every publisher's topic to one member: the owner of an
                # event's state sees every version and forgery of it (lifecycle.py).
                "partition.assignment.strategy": "range",
            },
        )
        self.checkpoint = Checkpoint(
            config.name,
            self._new_producer,
            self.consumer,
            self.chains,
            seals=self.fanout.seals,
            interval_s=config.commit_interval_s,
            state=(self.lifecycle,) if self.lifecycle else (),
        )

    # -- setup ----------------------------------------------------------------------------

    def _new_producer(self) -> Producer:
        producer = clients.transactional_producer(
            self.settings,
            f"router-{self.config.name}",
            self.transactional_id,
            **{"linger.ms": self.config.linger_ms, "queue.buffering.max.messages": 1_000_000},
        )
        # Fences any earlier incarnation of this router and aborts what it left open.
        producer.init_transactions(TXN_TIMEOUT_S)
        return producer

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            self._restore(partitions)
        except KafkaException as exception:
            if exception.args[0].code() != KafkaError._DESTROY:
                raise
            return  # an assignment that arrives while the consumer closes: nothing to route
        self.log.info("router.assigned", partitions=[tp.partition for tp in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.checkpoint.open:
            self.checkpoint.abort("partitions revoked")
        for tp in partitions:
            self.chains.drop(tp.topic, tp.partition)
            self._next.pop((tp.topic, tp.partition), None)
        if self.lifecycle:
            self.lifecycle.drop({tp.partition for tp in partitions})
        self.log.info("router.revoked", partitions=[tp.partition for tp in partitions])

    def _restore(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """The committed offsets of ``partitions``, their chain heads restored from them."""
        committed = clients.committed(self.consumer, partitions, timeout=TXN_TIMEOUT_S)
        for tp in committed:
            self.chains.restore(tp.topic, tp.partition, tp.metadata, tp.offset)
            self._next[(tp.topic, tp.partition)] = max(tp.offset, 0)
        if self.lifecycle:
            owned = {tp.partition for tp in partitions}
            self.lifecycle.drop(owned)
            self.lifecycle.load(
                EventState.decode(m.value() or b"")
                for m in read_to_end(self.settings, self.lifecycle_topic)
                if m.partition() in owned
            )
        return committed

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        self.consumer.subscribe(
            list(self.config.topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        self.authorizations.catch_up()
        self.log.info("router.lane_started", topics=list(self.config.topics), group=self.group)
        last_stats = time.monotonic()
        try:
            while not self.stop.is_set():
                try:
                    self._step()
                except Retry as retry:
                    # Said even when no transaction was open: a lane waiting on the registry
                    # would otherwise stall without a word.
                    self.log.warning("router.retry", reason=str(retry))
                    self.checkpoint.abort(str(retry))
                    self._rewind()
                    self.stop.wait(_RETRY_BACKOFF_S)
                if time.monotonic() - last_stats >= self.settings.stats_interval_s:
                    self._log_stats(time.monotonic() - last_stats)
                    last_stats = time.monotonic()
            if self.checkpoint.open:
                self.checkpoint.commit()
        finally:
            self.consumer.close()
            self.authorizations.close()
            self._log_stats(time.monotonic() - last_stats)
            self.log.info("router.lane_stopped")

    def _step(self) -> None:
        self.authorizations.refresh()
        first = self.consumer.poll(self.checkpoint.remaining(self._idle()))
        messages = [first] if first is not None else []
        if messages:
            messages += self.consumer.consume(_BATCH_MAX - 1, 0)
        for message in messages:
            error = message.error()
            if error is not None:
                self._on_consumer_error(error)
                continue
            self._route(message)
        self._fire()
        if self.checkpoint.due():
            self.checkpoint.commit()

    def _idle(self) -> float:
        """How long to wait for input: until the next deadline at most."""
        deadline = self.lifecycle.next_deadline() if self.lifecycle else None
        if deadline is None:
            return _IDLE_POLL_S
        left = (deadline - dt.datetime.now(dt.UTC)).total_seconds()
        return min(max(left, 0.0), _IDLE_POLL_S)

    def _fire(self) -> None:
        """Each deadline passed, in the transaction: every holder's notice of an event whose
        validUntil passed, the escalation of a hit unanswered in time."""
        if self.lifecycle is None:
            return
        now = dt.datetime.now(dt.UTC)
        for event_id, hit_id in self.lifecycle.due(now):
            # The state as it is now: an earlier deadline of the same event may have moved it.
            state = self.lifecycle.get(event_id)
            assert state is not None
            records = (
                self.fanout.expire(state, now)
                if hit_id == EXPIRY
                else self.fanout.escalate(state, hit_id, now)
            )
            source = (state.source[0], state.source[1])
            self.checkpoint.add_timed(source, self._next[source], records)

    def _serdes_once_registry_answers(self) -> LaneSerdes:
        """A router started while the registry is away waits for it (or for its stop)."""
        config = self.config
        carried = {model for models in config.topics.values() for model in models}
        also = sorted(carried - {config.event_model}, key=lambda model: model.avro_name)
        while True:
            try:
                return LaneSerdes.create(self.settings, config.event_model, *also)
            except RegistryUnavailable as outage:
                self.log.warning("router.registry_unavailable", error=str(outage))
                if self.stop.wait(_RETRY_BACKOFF_S):
                    raise Stopped from None

    def _on_consumer_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        self.log.warning("router.consumer_error", error=str(error))

    def _route(self, message: Message) -> None:
        inbound = Inbound(Position.of(message), message.key(), message.value())
        try:
            decoded = self.serdes.events.read(inbound.value)
        except Rejected as rejected:
            records = self.fanout.reject(inbound, rejected)
        except RegistryUnavailable as unavailable:
            raise Retry(f"schema registry unavailable: {unavailable}") from None
        else:
            topic = inbound.position.topic
            carried = self.config.topics[topic]
            if isinstance(decoded.record, carried):
                records = self.fanout.route(inbound, decoded, dt.datetime.now(dt.UTC))
            else:
                names = ", ".join(model.avro_name for model in carried)
                wrong = f"a {decoded.record.avro_name} on {topic}, which carries {names}"
                records = self.fanout.reject(inbound, Rejected("wrong-schema", wrong))
        self.checkpoint.add(inbound.position, records)
        self._next[(inbound.position.topic, inbound.position.partition)] = (
            inbound.position.offset + 1
        )

    def _rewind(self) -> None:
        """Seek back to the committed offsets (and chain heads) of every owned partition."""
        assignment = self.consumer.assignment()
        if not assignment:
            return
        for tp in self._restore(assignment):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))

    def _log_stats(self, elapsed: float) -> None:
        counts = self.fanout.counts
        events = counts.get("events", 0)
        self.log.info(
            "router.stats",
            events=events,
            events_per_s=round(events / max(elapsed, 1e-9), 1),
            **{k.replace("-", "_"): v for k, v in counts.items() if k != "events"},
            authorizations=len(self.authorizations.book),
        )
        counts.clear()


def _notices(
    topics: TopicMap, config: LaneConfig, recipients: Mapping[str, object]
) -> tuple[str, dict[str, str], dict[str, str]] | None:
    """Where the lane that reads deconfliction notices delivers them, if this lane does."""
    if topics.deconflict_notices not in config.topics:
        return None
    feeds = {r: topics.feed(r) for r in recipients}
    return topics.deconflict_notices, feeds, {r: topics.alerts(r) for r in recipients}
