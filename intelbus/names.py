"""Every Kafka name one bus uses, from one place: its topics (``deploy/topics.yaml`` with the
settings' prefix) and its consumer groups and transactional ids.

Group names carry the bus's topic prefix, so that buses sharing a cluster never share a
group, and each starts with the role that owns it (router, subscriber, reader), which is
what prefixed ACLs can grant.
"""

from __future__ import annotations

import uuid
from functools import cache
from pathlib import Path

from intelbus.settings import Settings
from intelbus.topics import TopicMap, load_topic_map

__all__ = [
    "reader_group",
    "router_group",
    "router_transactional_id",
    "subscriber_group",
    "topic_map",
]


def topic_map(settings: Settings) -> TopicMap:
    return _load(settings.topics_file, settings.topic_prefix)


@cache
def _load(path: Path, prefix: str) -> TopicMap:
    return load_topic_map(path, prefix)


def router_group(settings: Settings, lane: str) -> str:
    """The consumer group of one router lane (all its workers share it)."""
    return f"{settings.router_group}.{lane}"


def router_transactional_id(settings: Settings, lane: str) -> str:
    """One per lane worker: it fences that worker's earlier incarnations, and only those."""
    return f"{router_group(settings, lane)}-{settings.router_instance}"


def subscriber_group(settings: Settings, recipient: str) -> str:
    """Where a recipient's subscriber commits how far it has processed its feed."""
    return f"{settings.topic_prefix}intelbus-subscriber.{recipient}"


def reader_group(settings: Settings, role: str) -> str:
    """A throwaway group for a one-off read that commits nothing (audit, feed listing)."""
    return f"{settings.topic_prefix}intelbus-reader.{role}.{uuid.uuid4().hex[:12]}"
