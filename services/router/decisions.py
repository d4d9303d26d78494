"""Decision records and chain seals, as the router writes them (see intelbus.chain)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from intelbus.chain import ChainHead, SealSigner, decision_hash, seal_message
from intelbus.policy.decision_record import decision_fields
from intelbus.policy.engine import Event, Verdict

__all__ = ["ChainBook", "Source"]


@dataclass(frozen=True)
class Source:
    topic: str
    partition: int
    offset: int


class ChainBook:
    """The heads of the chains of the partitions this router owns.

    ``restore`` sets a partition's head from the committed offset metadata; ``decision``
    appends to it; ``seals`` signs every head that moved since the last seal; ``commit``
    makes the moved heads the new committed state (after the Kafka transaction committed)
    and ``rollback`` forgets them (after an abort).
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
        source: Source,
        event: Event,
        verdict: Verdict,
        feed_topic: str | None,
        decided_at: dt.datetime,
    ) -> tuple[str, dict[str, Any]]:
        """The next decision record of the source partition's chain: (chain id, Avro dict)."""
        head = self._current[(source.topic, source.partition)]
        record = decision_fields(
            event,
            verdict,
            policy_version=self._policy_version,
            decided_at=decided_at,
            source=(source.topic, source.partition, source.offset),
            feed_topic=feed_topic,
        ) | {
            "decisionId": f"{head.chain}#{head.next_sequence}",
            "chain": head.chain,
            "sequence": head.next_sequence,
            "previousHash": head.head_hash,
        }
        record["hash"] = decision_hash(record)
        self._current[(source.topic, source.partition)] = ChainHead(
            head.chain, head.next_sequence + 1, record["hash"]
        )
        return head.chain, record

    def moved(self) -> list[tuple[str, int]]:
        return [key for key, head in self._current.items() if head != self._committed.get(key)]

    def seal(
        self, topic: str, partition: int, sealed_at: dt.datetime
    ) -> tuple[str, dict[str, Any]]:
        """A signed seal of the partition's chain head, linking to the previous seal."""
        head = self._current[(topic, partition)]
        # The committed head is where the previous seal (or the chain's genesis) stands.
        previous_seal = self._committed[(topic, partition)].head_hash
        sequence = head.next_sequence - 1
        return head.chain, {
            "chain": head.chain,
            "sequence": sequence,
            "headHash": head.head_hash,
            "previousSealHash": previous_seal,
            "sealedAt": sealed_at,
            "keyId": self._signer.key_id,
            "signature": self._signer.sign(
                seal_message(head.chain, sequence, head.head_hash, previous_seal)
            ),
        }

    def metadata(self, topic: str, partition: int) -> str:
        return self._current[(topic, partition)].to_metadata()

    def commit(self) -> None:
        self._committed.update(self._current)

    def rollback(self) -> None:
        self._current.update(self._committed)
