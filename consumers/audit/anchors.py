"""Chain heads that the decision log must still hold, from outside the decisions topic.

A log cut short (its last transactions deleted, or all of it) still verifies link by link:
what is left is honest. Only a statement of where a chain had got to, kept elsewhere, shows
what is missing. Two are used, as Certificate Transparency clients keep the last signed tree
head they saw and require every later one to extend it (RFC 9162):

- the chain heads the router commits with its consumed offsets, in the same transaction as
  the decisions and seals (offset-commit metadata of its lanes' consumer groups; the
  reviewer may describe those groups and the inbound topics, nothing more);
- a reviewer's checkpoint: the last seal of each chain that verified (consumers/audit/
  checkpoint.py), signed by the router, so a checkpoint file cannot be forged either.

Each gives an :class:`Anchor`; the verifier requires a valid seal with that sequence and head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from intelbus import clients
from intelbus.chain import ChainHead
from intelbus.errors import IntelbusError
from intelbus.models import ChainSeal
from intelbus.settings import Settings

__all__ = ["Anchor", "committed_anchors"]

_TIMEOUT_S = 30


@dataclass(frozen=True)
class Anchor:
    """The log must hold a valid seal of ``chain`` at ``sequence`` with ``head_hash``."""

    chain: str
    sequence: int
    head_hash: str
    source: str  # who says so, for the report
    seal: ChainSeal | None = None  # a signed seal to verify first (a reviewer's checkpoint)


def committed_anchors(settings: Settings, lanes: Mapping[str, Sequence[str]]) -> list[Anchor]:
    """The chain head committed in each router group (``lanes``: group -> inbound topics)
    for every partition of its topics that has one."""
    admin = clients.admin(settings)
    anchors: list[Anchor] = []
    for group, topics in lanes.items():
        partitions = [tp for topic in topics for tp in _partitions(admin, settings, topic)]
        probe = clients.consumer(settings, group, "intelbus-audit-heads")  # never joins
        try:
            committed = clients.committed(probe, partitions, timeout=_TIMEOUT_S)
        except KafkaException as exception:
            clients.raise_if_refused(exception.args[0], settings, "describe group", group)
            raise
        finally:
            probe.close()
        for tp in committed:
            if tp.error is not None:
                clients.raise_if_refused(tp.error, settings, "describe", tp.topic)
                raise IntelbusError(
                    f"group {group}, {tp.topic} partition {tp.partition}: {tp.error}"
                )
            anchor = _anchor(group, tp)
            if anchor is not None:
                anchors.append(anchor)
    return anchors


def _partitions(admin: AdminClient, settings: Settings, topic: str) -> list[TopicPartition]:
    metadata = admin.list_topics(topic, timeout=_TIMEOUT_S).topics.get(topic)
    if metadata is not None and metadata.error is not None:
        if metadata.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
            raise clients.not_authorized(settings, "describe", topic)
        raise IntelbusError(f"{topic}: {metadata.error}")
    if metadata is None:
        raise IntelbusError(f"topic {topic} does not exist (run `intelbus topics apply`)")
    return [TopicPartition(topic, p) for p in metadata.partitions]


def _anchor(group: str, tp: TopicPartition) -> Anchor | None:
    if tp.offset < 0 or not tp.metadata:
        return None  # nothing committed: the router has not got there yet
    where = f"offset {tp.offset} on {tp.topic} partition {tp.partition} (group {group})"
    try:
        head = ChainHead.from_metadata(tp.metadata, default_chain="")
    except (ValueError, KeyError, TypeError):
        raise IntelbusError(
            f"the router's commit of {where} holds no chain head: {tp.metadata[:200]!r}"
        ) from None
    if head.next_sequence == 0:
        return None
    return Anchor(
        head.chain, head.next_sequence - 1, head.head_hash, f"the router's commit of {where}"
    )
