"""The deconfliction service: every agency's lookouts and operations in, a notice to each
party of a conflict out, exactly once.

One consumer group, one member: the index spans every agency and partition, so one process
holds it (a second one started with the same transactional id fences the first). Each poll
is one Kafka transaction holding the notices it produced, the index entries it changed (on
the compacted changelog ``intel.deconflict.index``) and the consumed offsets. A crash
anywhere aborts it; the next start rebuilds the index from the changelog as committed and
resumes from the committed offsets, so a SIGKILL neither loses nor repeats a notice.

What it reads is proven by topic, like the router: a lookout counts only on its originator's
own lookouts topic (a forged one is left to the router's dead letter, never indexed), an
operation or a check only on its originator's operations topic. A record that does not
decode under the contract is skipped with a warning: the router dead-letters lookouts; an
operation is read by nobody else, so the warning names it for its publisher.

A check (a question before acting) is matched like an operation but indexed nowhere: a
notice per conflict to the asker alone, and the question, as asked, to the router, which
logs it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from intelbus import clients, serde
from intelbus.access.principals import load_principals
from intelbus.deconflict.entries import Entry, from_check, from_lookout, from_operation, millis
from intelbus.deconflict.index import Index, told_key
from intelbus.deconflict.notices import notices
from intelbus.models import (
    DeconflictionCheck,
    DeconflictionNotice,
    Lookout,
    Operation,
    Record,
    Withdrawal,
)
from intelbus.names import deconflict_group, deconflict_transactional_id, topic_map
from intelbus.producer import produce
from intelbus.reader import ContractReader, Rejected
from intelbus.serde import FastCodec, RegistryUnavailable
from intelbus.settings import Settings
from intelbus.topic_reader import read_to_end

__all__ = ["Deconflictor", "Produced"]

log = structlog.get_logger()

_BATCH_MAX = 500
_POLL_S = 0.2
_TXN_TIMEOUT_S = 30.0
_RETRY_BACKOFF_S = 1.0


@dataclass(frozen=True)
class Produced:
    topic: str
    key: bytes
    value: bytes | None


class Deconflictor:
    def __init__(
        self,
        settings: Settings,
        stop: threading.Event | None = None,
        on_notice: Callable[[DeconflictionNotice], None] | None = None,
    ) -> None:
        principals = load_principals(settings.policies_dir)
        self.settings = (
            settings
            if settings.principal_override
            else settings.as_principal(principals.deconflictor)
        )
        self.stop = stop or threading.Event()
        self.on_notice = on_notice  # told of each notice once committed (bench, tests)
        self.topics = topic_map(settings)
        # Inbound topic -> (its publisher's agency, the record types it carries).
        self.inbound: dict[str, tuple[str, tuple[type[Record], ...]]] = {}
        for p in principals.publishers:
            self.inbound[self.topics.lookouts(p.id)] = (p.agency, (Lookout, Withdrawal))
            carried = (Operation, DeconflictionCheck)
            self.inbound[self.topics.operations(p.id)] = (p.agency, carried)
        client = serde.registry_client(self.settings)
        self.reader = ContractReader.connect(
            self.settings, [Lookout, Withdrawal, Operation, DeconflictionCheck], client
        )
        self.codec = FastCodec.registered(client, DeconflictionNotice, settings.schemas_dir)
        self.index = Index()
        self.group = deconflict_group(self.settings)
        self.consumer: Consumer = clients.consumer(
            self.settings,
            self.group,
            "deconflict",
            **{
                "fetch.wait.max.ms": 100,
                # Static membership: a restarted service takes its partitions back at once
                # instead of waiting for its killed predecessor's session to expire.
                "group.instance.id": deconflict_transactional_id(self.settings),
                "session.timeout.ms": 15_000,
            },
        )
        self.producer = self._new_producer()
        self.log = log.bind(service="deconflict")
        self.counts = {"events": 0, "notices": 0, "expired": 0, "skipped": 0}

    def _new_producer(self) -> Producer:
        producer = clients.transactional_producer(
            self.settings,
            "deconflict",
            deconflict_transactional_id(self.settings),
            **{"linger.ms": 0},
        )
        producer.init_transactions(_TXN_TIMEOUT_S)  # fences an earlier incarnation
        return producer

    # -- state ----------------------------------------------------------------------------

    def _restore(self) -> None:
        """The index as last committed, from its changelog."""
        index = Index()
        latest: dict[str, Entry | None] = {}
        for message in read_to_end(self.settings, self.topics.deconflict_index):
            key = (message.key() or b"").decode()
            value = message.value()
            latest[key] = Entry.decode(value) if value else None
        index.load(entry for entry in latest.values() if entry is not None)
        self.index = index
        self.log.info("deconflict.restored", entries=len(index), identifiers=index.identifiers)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._restore()

    def _rewind(self) -> None:
        """Back to what Kafka committed: the index from its changelog, the offsets."""
        self._restore()
        assignment = self.consumer.assignment()
        for tp in clients.committed(self.consumer, assignment, timeout=_TXN_TIMEOUT_S):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        self.consumer.subscribe(list(self.inbound), on_assign=self._on_assign)
        self.log.info("deconflict.started", topics=list(self.inbound), group=self.group)
        try:
            while not self.stop.is_set():
                try:
                    self._step()
                except (KafkaException, RegistryUnavailable) as error:
                    self.log.warning("deconflict.retry", error=str(error))
                    self._abort()
                    self.stop.wait(_RETRY_BACKOFF_S)
                    self._rewind()
        finally:
            self.consumer.close()
            self.log.info("deconflict.stopped", **self.counts)

    def _abort(self) -> None:
        try:
            self.producer.abort_transaction(_TXN_TIMEOUT_S)
        except KafkaException:
            # A fenced or fatally failed producer cannot abort: a new one aborts for it.
            self.producer = self._new_producer()

    def _step(self) -> None:
        messages = self.consumer.consume(_BATCH_MAX, _POLL_S)
        now = dt.datetime.now(dt.UTC)
        produced: list[Produced] = []
        told: list[DeconflictionNotice] = []
        offsets: dict[tuple[str, int], int] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                self.log.warning("deconflict.consumer_error", error=str(error))
                continue
            produced += self.handle(message, now, told)
            offsets[(message.topic() or "", message.partition() or 0)] = (message.offset() or 0) + 1
        produced += self.expire(millis(now))
        if not produced and not offsets:
            return
        self.producer.begin_transaction()
        for record in produced:
            produce(self.producer, record.topic, record.value, record.key)
        if offsets:
            self.producer.send_offsets_to_transaction(
                [TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                self.consumer.consumer_group_metadata(),
                _TXN_TIMEOUT_S,
            )
        self.producer.commit_transaction(_TXN_TIMEOUT_S)
        self.counts["notices"] += len(told)
        if self.on_notice is not None:
            for notice in told:
                self.on_notice(notice)

    # -- one record -----------------------------------------------------------------------

    def handle(
        self, message: Message, now: dt.datetime, told: list[DeconflictionNotice]
    ) -> list[Produced]:
        """What one inbound record changes: index entries and notices."""
        topic = message.topic() or ""
        agency, carried = self.inbound[topic]
        try:
            record = self.reader.read(message.value()).record
        except Rejected as rejected:
            return self._skip(message, rejected.reason, rejected.detail)
        if not isinstance(record, carried):
            return self._skip(message, "wrong-schema", f"a {record.avro_name} on {topic}")
        if isinstance(record, Withdrawal):
            entry = self.index.get(record.event_id)
            if entry is None or entry.agency != agency.upper():
                return []
            self.index.remove(record.event_id)
            return [self._tombstone(record.event_id)]
        if isinstance(record, DeconflictionCheck):
            return self._check(message, record, agency, now, told)
        assert isinstance(record, Lookout | Operation)
        new = from_lookout(record) if isinstance(record, Lookout) else from_operation(record)
        if new.agency != agency.upper():
            return self._skip(message, "originator-mismatch", f"{new.event_id} claims {new.agency}")
        known = self.index.get(new.event_id)
        if known is not None and known.version >= new.version:
            return []  # a stale version changes nothing
        if new.expires_ms <= millis(now):
            return []
        self.counts["events"] += 1
        if known is not None:
            new = new.with_told(*known.told)
        produced: list[Produced] = []
        for conflict in self.index.conflicts(new, millis(now)):
            new = new.with_told(told_key(conflict.match, conflict.other.event_id))
            other = conflict.other.with_told(told_key(conflict.match, new.event_id))
            self.index.put(other)
            produced.append(self._entry(other))
            for notice in notices(new, conflict, now):
                told.append(notice)
                produced.append(self._notice(notice))
        self.index.put(new)
        produced.append(self._entry(new))
        return produced

    def _check(
        self,
        message: Message,
        check: DeconflictionCheck,
        agency: str,
        now: dt.datetime,
        told: list[DeconflictionNotice],
    ) -> list[Produced]:
        """A question: a notice to the asker per conflict, nothing indexed, nobody else told;
        the question itself to the router, which logs it."""
        asked = from_check(check)
        if asked.agency != agency.upper():
            return self._skip(message, "originator-mismatch", f"{check.check_id} by {agency}")
        question = Produced(
            self.topics.deconflict_notices, asked.event_id.encode(), message.value()
        )
        produced = [question]
        for conflict in self.index.conflicts(asked, millis(now)):
            answer = notices(asked, conflict, now)[0]
            told.append(answer)
            produced.append(self._notice(answer))
        return produced

    def _notice(self, notice: DeconflictionNotice) -> Produced:
        value = self.codec.encode(notice.to_avro())
        return Produced(self.topics.deconflict_notices, notice.notice_id.encode(), value)

    def expire(self, now_ms: int) -> list[Produced]:
        """Entries past their validity or window: gone from the index and the changelog."""
        produced = []
        for entry in self.index.due(now_ms):
            self.index.remove(entry.event_id)
            produced.append(self._tombstone(entry.event_id))
            self.counts["expired"] += 1
        return produced

    def _entry(self, entry: Entry) -> Produced:
        return Produced(self.topics.deconflict_index, entry.event_id.encode(), entry.encode())

    def _tombstone(self, event_id: str) -> Produced:
        return Produced(self.topics.deconflict_index, event_id.encode(), None)

    def _skip(self, message: Message, reason: str, detail: str) -> list[Produced]:
        self.counts["skipped"] += 1
        where = f"{message.topic()}/{message.partition()}/{message.offset()}"
        self.log.warning("deconflict.skipped", reason=reason, detail=detail[:300], source=where)
        return []
