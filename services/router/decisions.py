"""Decision records and chain seals, as the router writes them (see intelbus.chain).

:func:`decision_record` is the one builder of an ``intelbus.PolicyDecision``: what one
recipient got of one event and why, linked into its chain and hashed. Records are plain
dicts typed for the Avro encoder (a pydantic model per record would cost more than the
encoding on the router's hot path).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from intelbus.chain import (
    SEAL_SIGNATURE_VERSION,
    ChainHead,
    SealSigner,
    decision_hash,
    seal_message,
)
from intelbus.policy.engine import Event, Verdict, event_kind
from intelbus.position import Position

__all__ = [
    "ChainBook",
    "DecisionRecord",
    "EventRef",
    "SealRecord",
    "avro_dict",
    "decision_record",
]


@dataclass(frozen=True, slots=True)
class EventRef:
    """An event a decision is about when the router no longer holds the event itself
    (a withdrawal, an expiry): its id, the version concerned and its kind."""

    event_id: str
    version: int
    kind: str


class DecisionRecord(TypedDict):
    """An ``intelbus.PolicyDecision`` as the Avro encoder takes it (wire names; arrays are
    the verdict's own tuples: the encoder and the hash read them as lists, uncopied)."""

    decisionId: str
    eventId: str
    eventVersion: int
    eventKind: str
    recipient: str
    decision: str
    rules: tuple[str, ...]
    removedFields: tuple[str, ...]
    authorizationIds: tuple[str, ...]
    onwardTransfer: bool
    carriedEuPnr: bool
    deliveredEuPnr: bool
    notifications: tuple[str, ...]
    reason: str
    policyVersion: str
    decidedAt: dt.datetime
    sourceTopic: str
    sourcePartition: int
    sourceOffset: int
    feedTopic: str | None
    chain: str
    sequence: int
    previousHash: str
    hash: str


class SealRecord(TypedDict):
    """An ``intelbus.ChainSeal`` as the Avro encoder takes it (wire names)."""

    chain: str
    sequence: int
    headHash: str
    previousSealHash: str
    sealedAt: dt.datetime
    keyId: str
    signature: bytes
    signatureVersion: int


def decision_record(
    event: Event | EventRef,
    verdict: Verdict,
    *,
    head: ChainHead,
    policy_version: str,
    decided_at: dt.datetime,
    source: Position,
    feed_topic: str | None,
) -> DecisionRecord:
    """The decision on ``verdict`` as the next record of the chain at ``head``, hashed."""
    record = DecisionRecord(
        decisionId=f"{head.chain}#{head.next_sequence}",
        eventId=event.event_id,
        eventVersion=event.version,
        eventKind=event.kind if isinstance(event, EventRef) else event_kind(event).value,
        recipient=verdict.recipient,
        decision=verdict.decision.value,
        rules=verdict.rules,
        removedFields=verdict.removed_fields,
        authorizationIds=verdict.authorization_ids,
        onwardTransfer=verdict.onward_transfer,
        carriedEuPnr=verdict.carried_eu_pnr,
        deliveredEuPnr=verdict.delivered_eu_pnr,
        notifications=verdict.notifications,
        reason=verdict.reason,
        policyVersion=policy_version,
        decidedAt=decided_at,
        sourceTopic=source.topic,
        sourcePartition=source.partition,
        sourceOffset=source.offset,
        feedTopic=feed_topic,
        chain=head.chain,
        sequence=head.next_sequence,
        previousHash=head.head_hash,
        hash="",  # decision_hash leaves this field out
    )
    record["hash"] = decision_hash(avro_dict(record))
    return record


def avro_dict(record: DecisionRecord | SealRecord) -> dict[str, Any]:
    """The record as the untyped dict the hash and the Avro encoder take (no copy)."""
    return cast(dict[str, Any], record)


class ChainBook:
    """The heads of the chains of the partitions this router owns.

    ``restore`` sets a partition's head from the committed offset metadata; ``decision``
    appends to it; ``seal`` signs a head that moved since the last seal (``moved``);
    ``commit`` makes the moved heads the new committed state (after the Kafka transaction
    committed) and ``rollback`` forgets them (after an abort).
    """

    def __init__(self, signer: SealSigner, policy_version: str) -> None:
        self._signer = signer
        self._policy_version = policy_version
        self._committed: dict[tuple[str, int], ChainHead] = {}
        self._current: dict[tuple[str, int], ChainHead] = {}

    def restore(self, topic: str, partition: int, metadata: str | None, offset: int) -> None:
        start = max(offset, 0)
        head = ChainHead.from_metadata(metadata, default_chain=f"{topic}/{partition}@{start}")
        self._committed[(topic, partition)] = head
        self._current[(topic, partition)] = head

    def drop(self, topic: str, partition: int) -> None:
        self._committed.pop((topic, partition), None)
        self._current.pop((topic, partition), None)

    def decision(
        self,
        source: Position,
        event: Event | EventRef,
        verdict: Verdict,
        feed_topic: str | None,
        decided_at: dt.datetime,
    ) -> tuple[str, DecisionRecord]:
        """The next decision record of the source partition's chain: (chain id, record)."""
        key = (source.topic, source.partition)
        head = self._current[key]
        record = decision_record(
            event,
            verdict,
            head=head,
            policy_version=self._policy_version,
            decided_at=decided_at,
            source=source,
            feed_topic=feed_topic,
        )
        self._current[key] = ChainHead(head.chain, head.next_sequence + 1, record["hash"])
        return head.chain, record

    def moved(self) -> list[tuple[str, int]]:
        return [key for key, head in self._current.items() if head != self._committed.get(key)]

    def seal(self, topic: str, partition: int, sealed_at: dt.datetime) -> tuple[str, SealRecord]:
        """A seal of the partition's chain head, linking to the previous seal, with every
        field signed."""
        head = self._current[(topic, partition)]
        # The committed head is where the previous seal (or the chain's genesis) stands.
        previous_seal = self._committed[(topic, partition)].head_hash
        seal = SealRecord(
            chain=head.chain,
            sequence=head.next_sequence - 1,
            headHash=head.head_hash,
            previousSealHash=previous_seal,
            sealedAt=sealed_at,
            keyId=self._signer.key_id,
            signature=b"",  # seal_message leaves this field out
            signatureVersion=SEAL_SIGNATURE_VERSION,
        )
        seal["signature"] = self._signer.sign(seal_message(avro_dict(seal)))
        return head.chain, seal

    def metadata(self, topic: str, partition: int) -> str:
        return self._current[(topic, partition)].to_metadata()

    def commit(self) -> None:
        self._committed.update(self._current)

    def rollback(self) -> None:
        self._current.update(self._committed)
