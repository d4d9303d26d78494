"""Every Kafka name one bus uses, from one place: its topics (``deploy/topics.yaml`` with the
settings' prefix) and its consumer groups and transactional ids.

Each principal's groups and transactional ids start with ``<topic prefix><principal>.``:
buses sharing a cluster never share a group, and one prefixed ACL per principal lets it use
its own and nobody else's (``intelbus.access.grants``).
"""

from __future__ import annotations

import uuid
from functools import cache
from pathlib import Path

from intelbus.access.principals import load_principals
from intelbus.settings import Settings
from intelbus.topics import TopicMap, load_topic_map

__all__ = [
    "deconflict_group",
    "deconflict_transactional_id",
    "principal_prefix",
    "publisher_transactional_id",
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


def principal_prefix(settings: Settings, principal: str) -> str:
    """Where ``principal``'s consumer groups and transactional ids are named."""
    return f"{settings.topic_prefix}{principal}."


def router_group(settings: Settings, lane: str) -> str:
    """The consumer group of one router lane (all its workers share it)."""
    router = load_principals(settings.policies_dir).router
    tag = f"{settings.router_group_tag}." if settings.router_group_tag else ""
    return principal_prefix(settings, router) + tag + lane


def router_transactional_id(settings: Settings, lane: str) -> str:
    """One per lane worker: it fences that worker's earlier incarnations, and only those."""
    return f"{router_group(settings, lane)}-{settings.router_instance}"


def subscriber_group(settings: Settings, recipient: str) -> str:
    """Where a subscriber commits how far it has processed ``recipient``'s feed."""
    return principal_prefix(settings, settings.principal) + f"feed.{recipient}"


def reader_group(settings: Settings, role: str) -> str:
    """A throwaway group for a one-off read that commits nothing (audit, feed listing)."""
    return principal_prefix(settings, settings.principal) + f"reader.{role}.{uuid.uuid4().hex}"


def publisher_transactional_id(settings: Settings) -> str:
    """One per all-or-nothing publish: nothing to fence, so never reused."""
    return principal_prefix(settings, settings.principal) + f"publish.{uuid.uuid4().hex}"


def deconflict_group(settings: Settings) -> str:
    """The deconfliction service's consumer group (one member: its index spans agencies)."""
    deconflictor = load_principals(settings.policies_dir).deconflictor
    return principal_prefix(settings, deconflictor) + "deconflict"


def deconflict_transactional_id(settings: Settings) -> str:
    """Fixed: a restarted service fences its predecessor and aborts what it left open."""
    return f"{deconflict_group(settings)}-0"
