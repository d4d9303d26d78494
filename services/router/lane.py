"""One lane of the router: a consumer group over one inbound topic, one transactional
producer, and the loop that routes each event exactly once.

Per batch, in ONE Kafka transaction: every recipient's view goes to its feed, one decision
record per (event, recipient) and one seal per touched chain go to the decisions topic, bad
input goes to the dead letter, and the consumed offsets (with each chain's head as offset
metadata) are committed. A crash anywhere aborts the transaction; the next owner of the
partition resumes from the last committed offsets and chain heads.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

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

from intelbus import clients, serde
from intelbus.chain import SealSigner
from intelbus.models import (
    ChainSeal,
    Decision,
    DisclosureAuthorization,
    Lookout,
    OfficerSafetyAlert,
    Pointer,
    PolicyDecision,
    Record,
)
from intelbus.names import router_group, router_transactional_id
from intelbus.policy.engine import Event, PolicyEngine, Verdict
from intelbus.policy.policyset import PolicySet
from intelbus.reader import ContractReader, Rejected
from intelbus.serde import FastCodec, RegistryUnavailable
from intelbus.settings import Settings
from intelbus.topics import TopicMap
from services.router.authorizations import AuthorizationFeed
from services.router.decisions import ChainBook, Source

__all__ = ["Lane", "LaneConfig", "LaneSerdes", "RouterContext"]

log = structlog.get_logger()

_TXN_TIMEOUT_S = 30.0
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


@dataclass(frozen=True)
class LaneConfig:
    name: str
    topic: str
    event_model: type[Lookout] | type[OfficerSafetyAlert]
    delivers_to: str  # the per-recipient topic role (deploy/topics.yaml): feed or alerts
    commit_interval_s: float
    # Low latency: send each produced message at once instead of lingering for a batch.
    linger_ms: int


@dataclass(frozen=True)
class LaneSerdes:
    """The lane's reader of its inbound events, and the codecs of what it writes."""

    events: ContractReader
    event: FastCodec  # the events' codec, for redacted views
    pointer: FastCodec
    decision: FastCodec
    seal: FastCodec
    authorizations: ContractReader

    @classmethod
    def create(cls, settings: Settings, event_model: type[Record]) -> LaneSerdes:
        client = serde.registry_client(settings)

        def codec(model: type[Record]) -> FastCodec:
            return FastCodec.registered(client, model, settings.schemas_dir)

        events = ContractReader.connect(settings, [event_model], client)
        return cls(
            events,
            events.codec(event_model),
            codec(Pointer),
            codec(PolicyDecision),
            codec(ChainSeal),
            ContractReader.connect(settings, [DisclosureAuthorization], client),
        )


@dataclass
class _Batch:
    """The open transaction: when it began and the next offset to commit per partition."""

    started: float | None = None
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.started is not None

    def track(self, message: Message) -> None:
        self.offsets[(message.topic() or "", message.partition() or 0)] = (
            message.offset() or 0
        ) + 1

    def reset(self) -> None:
        self.started = None
        self.offsets.clear()


class _Retry(Exception):
    """Abort the open transaction, rewind to the committed offsets, and try again."""


Headers = list[tuple[str, str | bytes | None]]


def _headers(verdict: Verdict, event: Event, decision_id: str, policy_version: str) -> Headers:
    return [
        ("intelbus.event-id", event.event_id.encode()),
        ("intelbus.decision", verdict.decision.label.encode()),
        ("intelbus.rules", ",".join(verdict.rules).encode()),
        ("intelbus.removed", ",".join(verdict.removed_fields).encode()),
        ("intelbus.decision-id", decision_id.encode()),
        ("intelbus.policy-version", policy_version.encode()),
    ]


class _Views:
    """Encodes each distinct view of one event once; a whole delivery reuses the input bytes."""

    def __init__(self, original: bytes, serdes: LaneSerdes) -> None:
        self._original = original
        self._serdes = serdes
        self._cache: dict[tuple[Decision, tuple[str, ...]], bytes] = {}

    def encode(self, verdict: Verdict) -> bytes:
        if verdict.decision is Decision.DELIVER:
            return self._original
        key = (verdict.decision, verdict.removed_fields)
        encoded = self._cache.get(key)
        if encoded is None:
            assert verdict.view is not None
            codec = (
                self._serdes.pointer if verdict.decision is Decision.POINTER else self._serdes.event
            )
            encoded = codec.encode(verdict.view)
            self._cache[key] = encoded
        return encoded


class Lane:
    def __init__(self, context: RouterContext, config: LaneConfig) -> None:
        settings = context.settings
        self.settings = settings
        self.config = config
        self.topics = context.topics
        self.stop = context.stop
        self.chains = ChainBook(context.signer, context.policy.version)
        self.serdes = LaneSerdes.create(settings, config.event_model)
        self.log = log.bind(lane=config.name)
        self.group = router_group(settings, config.name)
        self.transactional_id = router_transactional_id(settings, config.name)
        self.authorizations = AuthorizationFeed(
            settings,
            f"{self.group}.authorizations",
            self.topics.authorizations,
            self.serdes.authorizations,
        )
        self.engine = PolicyEngine(context.policy, self.authorizations.book)
        self.recipients = list(self.engine.policy.recipients)
        # Topic names are looked up per message: resolve them once.
        self.feeds = {
            recipient: self.topics.of_recipient(config.delivers_to, recipient).name
            for recipient in self.recipients
        }
        self.decisions_topic = self.topics.decisions
        self.counts: Counter[str] = Counter()
        self.batch = _Batch()
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
            },
        )
        self.producer: Producer = self._new_producer()

    # -- setup ----------------------------------------------------------------------------

    def _new_producer(self) -> Producer:
        producer = clients.transactional_producer(
            self.settings,
            f"router-{self.config.name}",
            self.transactional_id,
            **{"linger.ms": self.config.linger_ms, "queue.buffering.max.messages": 1_000_000},
        )
        # Fences any earlier incarnation of this router and aborts what it left open.
        producer.init_transactions(_TXN_TIMEOUT_S)
        return producer

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            committed = clients.committed(consumer, partitions, timeout=_TXN_TIMEOUT_S)
        except KafkaException as exception:
            if exception.args[0].code() != KafkaError._DESTROY:
                raise
            return  # an assignment that arrives while the consumer closes: nothing to route
        for tp in committed:
            self.chains.restore(tp.topic, tp.partition, tp.metadata, tp.offset)
        self.log.info("router.assigned", partitions=[tp.partition for tp in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.batch.open:
            self._abort("partitions revoked")
        for tp in partitions:
            self.chains.drop(tp.topic, tp.partition)
        self.log.info("router.revoked", partitions=[tp.partition for tp in partitions])

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        self.consumer.subscribe(
            [self.config.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        self.authorizations.catch_up()
        self.log.info("router.lane_started", topic=self.config.topic, group=self.group)
        last_stats = time.monotonic()
        try:
            while not self.stop.is_set():
                try:
                    self._step()
                except _Retry as retry:
                    self._abort(str(retry))
                    self._rewind()
                    self.stop.wait(_RETRY_BACKOFF_S)
                if time.monotonic() - last_stats >= self.settings.stats_interval_s:
                    self._log_stats(time.monotonic() - last_stats)
                    last_stats = time.monotonic()
            if self.batch.open:
                self._commit()
        finally:
            self.consumer.close()
            self.authorizations.close()
            self._log_stats(time.monotonic() - last_stats)
            self.log.info("router.lane_stopped")

    def _step(self) -> None:
        self.authorizations.refresh()
        first = self.consumer.poll(self._poll_timeout())
        messages = [first] if first is not None else []
        if messages:
            messages += self.consumer.consume(_BATCH_MAX - 1, 0)
        for message in messages:
            error = message.error()
            if error is not None:
                self._on_consumer_error(error)
                continue
            self._route(message)
        if self.batch.open and self._due():
            self._commit()

    def _poll_timeout(self) -> float:
        if not self.batch.open or self.batch.started is None:
            return _IDLE_POLL_S
        remaining = self.batch.started + self.config.commit_interval_s - time.monotonic()
        return max(remaining, 0.0)

    def _due(self) -> bool:
        started = self.batch.started
        return started is not None and time.monotonic() - started >= self.config.commit_interval_s

    def _on_consumer_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        self.log.warning("router.consumer_error", error=str(error))

    # -- routing one event ----------------------------------------------------------------

    def _route(self, message: Message) -> None:
        if not self.batch.open:
            self.producer.begin_transaction()
            self.batch.started = time.monotonic()
        topic, partition, offset = (
            message.topic() or "",
            message.partition() or 0,
            message.offset() or 0,
        )
        value = message.value()
        try:
            decoded = self.serdes.events.read(value)
        except Rejected as rejected:
            self._dead_letter(message, rejected.reason, rejected.detail)
            self.batch.track(message)
            return
        except RegistryUnavailable as unavailable:
            raise _Retry(f"schema registry unavailable: {unavailable}") from None
        assert value is not None
        event, record = decoded.record, decoded.fields
        assert isinstance(event, Lookout | OfficerSafetyAlert)
        at = dt.datetime.now(dt.UTC)
        views = _Views(value, self.serdes)
        source = Source(topic, partition, offset)
        failed: Verdict | None = None
        for recipient in self.recipients:
            verdict = self.engine.evaluate(event, record, recipient, at)
            feed = self.feeds[recipient] if verdict.view is not None else None
            chain, decision = self.chains.decision(source, event, verdict, feed, at)
            if feed is not None:
                self._produce(
                    feed,
                    views.encode(verdict),
                    message.key(),
                    _headers(verdict, event, decision["decisionId"], self.engine.policy.version),
                )
            self._produce(
                self.decisions_topic,
                self.serdes.decision.encode(decision),
                chain.encode(),
            )
            self.counts[verdict.decision.label] += 1
            if "fail-closed" in verdict.rules:
                failed = verdict
        if failed is not None:
            self._dead_letter(message, "fail-closed", failed.error or failed.reason)
        self.counts["events"] += 1
        self.batch.track(message)

    def _dead_letter(self, message: Message, reason: str, detail: str) -> None:
        source = f"{message.topic()}/{message.partition()}/{message.offset()}"
        self._produce(
            self.topics.dead_letter,
            message.value(),
            message.key(),
            [
                ("intelbus.dlq.reason", reason.encode()),
                ("intelbus.dlq.detail", detail.encode(errors="replace")[:2000]),
                ("intelbus.dlq.source", source.encode()),
                ("intelbus.dlq.router", self.transactional_id.encode()),
            ],
        )
        self.counts["dead-letter"] += 1
        self.log.warning("router.dead_letter", reason=reason, detail=detail[:300], source=source)

    def _produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None = None,
    ) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, headers=headers)
                return
            except BufferError:
                self.producer.poll(0.05)  # the local queue is full: let deliveries drain

    # -- transactions ---------------------------------------------------------------------

    def _commit(self) -> None:
        now = dt.datetime.now(dt.UTC)
        for topic, partition in self.chains.moved():
            chain, seal = self.chains.seal(topic, partition, now)
            self._produce(
                self.decisions_topic,
                self.serdes.seal.encode(seal),
                chain.encode(),
            )
        offsets = [
            TopicPartition(
                topic, partition, offset, metadata=self.chains.metadata(topic, partition)
            )
            for (topic, partition), offset in self.batch.offsets.items()
        ]
        deadline = time.monotonic() + _TXN_TIMEOUT_S
        while True:
            try:
                self.producer.send_offsets_to_transaction(
                    offsets, self.consumer.consumer_group_metadata(), _TXN_TIMEOUT_S
                )
                self.producer.commit_transaction(_TXN_TIMEOUT_S)
                break
            except KafkaException as exception:
                error: KafkaError = exception.args[0]
                if error.retriable() and time.monotonic() < deadline:
                    continue
                if error.fatal():
                    self.log.error("router.producer_fatal", error=str(error))
                    self.producer = self._new_producer()
                raise _Retry(f"commit failed: {error}") from None
        self.chains.commit()
        self.batch.reset()

    def _abort(self, why: str) -> None:
        if self.batch.open:
            self.log.warning("router.abort", reason=why)
            try:
                self.producer.abort_transaction(_TXN_TIMEOUT_S)
            except KafkaException as exception:
                # Fenced or fatal: a new producer aborts what the old one left open.
                self.log.error("router.abort_failed", error=str(exception))
                self.producer = self._new_producer()
        self.chains.rollback()
        self.batch.reset()

    def _rewind(self) -> None:
        """Seek back to the committed offsets (and chain heads) of every owned partition."""
        assignment = self.consumer.assignment()
        if not assignment:
            return
        for tp in clients.committed(self.consumer, assignment, timeout=_TXN_TIMEOUT_S):
            self.chains.restore(tp.topic, tp.partition, tp.metadata, tp.offset)
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))

    def _log_stats(self, elapsed: float) -> None:
        events = self.counts.get("events", 0)
        self.log.info(
            "router.stats",
            events=events,
            events_per_s=round(events / max(elapsed, 1e-9), 1),
            **{k.replace("-", "_"): v for k, v in self.counts.items() if k != "events"},
            authorizations=len(self.authorizations.book),
        )
        self.counts.clear()
