"""For the audit tests: a decision log built in memory, as the router writes it (no Kafka):
records and seals made by the router's own ChainBook and signer, from the policy engine's
verdicts on one lookout; key rotations signed as ``intelbus router rotate-key`` signs them;
the chain heads the router would have committed with its offsets. And, on the broker, the
seed examples routed, and a reviewer's file pinning the router's key."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consumers.audit.anchors import Anchor
from consumers.audit.log import Entry
from consumers.audit.verify import Report, verify_log
from intelbus.chain import (
    ROTATION_SIGNATURE_VERSION,
    SEAL_SIGNATURE_VERSION,
    ChainHead,
    SealSigner,
    public_key_line,
    raw_public_key,
    rotation_message,
    seal_message,
)
from intelbus.keydir import load_public_keys
from intelbus.models import ChainSeal, KeyRotation, PolicyDecision
from intelbus.position import Position
from intelbus.settings import Settings
from intelbus.topics import load_topic_map
from producers.publisher import Publisher
from services.router.decisions import ChainBook
from services.router.progress import wait_until_all_routed
from services.scenario import PHASE_1, load_phase
from tests import factories
from tests.policy_fixtures import AT, POLICY, verdicts
from tests.router_helpers import running_router

__all__ = [
    "AT",
    "EVENT",
    "TOPICS",
    "VERDICTS",
    "DecisionLog",
    "Found",
    "Written",
    "found",
    "new_signer",
    "pin_router_key",
    "route_examples",
    "signed_seal",
]

TOPICS = load_topic_map(Settings().topics_file, "")
EVENT = factories.lookout(event_id="lk-verify-1")
VERDICTS = list(verdicts(EVENT).values())
ROTATIONS_PARTITION = 2

Where = tuple[str, int, int]  # topic, partition, offset
Found = tuple[Where | None, str, str]  # where, chain, what


def new_signer() -> SealSigner:
    return SealSigner(Ed25519PrivateKey.generate())


def route_examples(settings: Settings) -> None:
    """The phase-1 examples published and routed: an honest decision log."""
    publisher = Publisher(settings)
    with running_router(settings):
        for record in load_phase(PHASE_1, dt.datetime.now(dt.UTC)):
            publisher.publish(record)
        wait_until_all_routed(settings)


def pin_router_key(keys_dir: Path, path: Path) -> Path:
    """A reviewer's trusted-keys file at ``path`` pinning the router's current key."""
    [public_key] = load_public_keys(keys_dir).values()
    path.write_text(f"# the router's key\n{public_key_line(public_key)}\n")
    return path


@dataclass(frozen=True)
class Written:
    """One record of the in-memory decisions topic and where it sits."""

    where: Where
    decision: PolicyDecision | None = None
    seal: ChainSeal | None = None
    rotation: KeyRotation | None = None
    problem: str | None = None

    @property
    def record(self) -> PolicyDecision:
        assert self.decision is not None
        return self.decision

    @property
    def sealed(self) -> ChainSeal:
        assert self.seal is not None
        return self.seal

    def entry(self) -> Entry:
        return Entry(
            Position(*self.where),
            decision=self.decision,
            seal=self.seal,
            rotation=self.rotation,
            problem=self.problem,
        )


def found(report: Report) -> list[Found]:
    """The report's problems as (where, chain, what), in the report's order."""
    return [
        (
            (p.position.topic, p.position.partition, p.position.offset) if p.position else None,
            p.chain,
            p.what,
        )
        for p in report.problems
    ]


def signed_seal(
    signer: SealSigner,
    chain: str,
    sequence: int,
    head: str,
    previous: str,
    *,
    sealed_at: dt.datetime = AT,
) -> ChainSeal:
    """A seal signed by ``signer`` as ChainBook signs one."""
    unsigned = ChainSeal(
        chain=chain,
        sequence=sequence,
        head_hash=head,
        previous_seal_hash=previous,
        sealed_at=sealed_at,
        key_id=signer.key_id,
        signature=b"",
        signature_version=SEAL_SIGNATURE_VERSION,
    )
    signature = signer.sign(seal_message(unsigned.to_avro()))
    return unsigned.model_copy(update={"signature": signature})


class DecisionLog:
    """A decisions topic in memory, written as the router writes it: per transaction, the
    ChainBook's decision records, then a seal of every chain that moved, then commit."""

    def __init__(self, signer: SealSigner) -> None:
        self.first_signer = self.signer = signer
        self.book = ChainBook(signer, POLICY.version)
        self.records: list[Written] = []
        self._ends: dict[int, int] = defaultdict(int)
        self._source_offsets: dict[int, int] = defaultdict(int)

    def chain(self, partition: int) -> str:
        return f"{TOPICS.lookouts('cbp')}/{partition}@0"

    def transaction(self, partition: int, decisions: int, at: dt.datetime = AT) -> None:
        """One event of lookouts ``partition`` decided for the first ``decisions`` recipients,
        sealed at ``at``."""
        if self._source_offsets[partition] == 0:
            self.book.restore(TOPICS.lookouts("cbp"), partition, None, 0)
        source = Position(TOPICS.lookouts("cbp"), partition, self._source_offsets[partition])
        self._source_offsets[partition] += 1
        for verdict in VERDICTS[:decisions]:
            feed = TOPICS.feed(verdict.recipient) if verdict.view is not None else None
            _, record = self.book.decision(source, EVENT, verdict, feed, AT)
            self.append(partition, decision=PolicyDecision.model_validate(record))
        for topic, moved in self.book.moved():
            _, seal = self.book.seal(topic, moved, at)
            self.append(moved, seal=ChainSeal.model_validate(seal))
        self.book.commit()

    def rotate(self, new: SealSigner, at: dt.datetime, by: SealSigner | None = None) -> Written:
        """A key rotation to ``new`` at ``at``, signed by ``by`` (default: the current key);
        the router signs with ``new`` from then on."""
        unsigned = KeyRotation(
            previous_key_id=(by or self.signer).key_id,
            key_id=new.key_id,
            public_key=raw_public_key(new.public_key),
            rotated_at=at,
            signature_version=ROTATION_SIGNATURE_VERSION,
            signature=b"",
        )
        signature = (by or self.signer).sign(rotation_message(unsigned.to_avro()))
        rotation = unsigned.model_copy(update={"signature": signature})
        book = ChainBook(new, POLICY.version)
        for partition in self._source_offsets:
            topic = TOPICS.lookouts("cbp")
            book.restore(topic, partition, self.book.metadata(topic, partition), 0)
        self.book, self.signer = book, new
        return self.append(ROTATIONS_PARTITION, rotation=rotation)

    def committed(self) -> list[Anchor]:
        """The chain heads the router committed with its offsets, as anchors."""
        anchors = []
        topic = TOPICS.lookouts("cbp")
        for partition, offset in self._source_offsets.items():
            head = ChainHead.from_metadata(self.book.metadata(topic, partition), "")
            source = f"the router's commit of offset {offset} on {topic} partition {partition}"
            anchors.append(Anchor(head.chain, head.next_sequence - 1, head.head_hash, source))
        return anchors

    def append(
        self,
        partition: int,
        *,
        decision: PolicyDecision | None = None,
        seal: ChainSeal | None = None,
        rotation: KeyRotation | None = None,
        problem: str | None = None,
    ) -> Written:
        """A record at the end of the decisions topic's ``partition``."""
        where = (TOPICS.decisions, partition, self._ends[partition])
        self._ends[partition] += 1
        written = Written(where, decision, seal, rotation, problem)
        self.records.append(written)
        return written

    def replace(
        self, old: Written, *, decision: PolicyDecision | None = None, seal: ChainSeal | None = None
    ) -> Written:
        """Another record in ``old``'s place (same offset)."""
        new = Written(old.where, decision, seal)
        self.records[self.records.index(old)] = new
        return new

    def remove(self, *written: Written) -> None:
        for one in written:
            self.records.remove(one)

    def decision(self, partition: int, sequence: int) -> Written:
        chain = self.chain(partition)
        (match,) = (
            w
            for w in self.records
            if w.decision and w.decision.chain == chain and w.decision.sequence == sequence
        )
        return match

    def seal(self, partition: int, sequence: int) -> Written:
        chain = self.chain(partition)
        (match,) = (
            w
            for w in self.records
            if w.seal and w.seal.chain == chain and w.seal.sequence == sequence
        )
        return match

    def verify(
        self, pinned: list[SealSigner] | None = None, anchors: list[Anchor] | None = None
    ) -> Report:
        """The log verified by a reviewer who pins ``pinned`` (default: the first key)."""
        keys = {s.key_id: s.public_key for s in pinned or [self.first_signer]}
        return verify_log((w.entry() for w in self.records), keys, anchors or [])
