"""How far the deconfliction service has read: to await its notices (demo, bench, tests)."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import TopicPartition

from intelbus import clients
from intelbus.access.principals import load_principals
from intelbus.names import deconflict_group, topic_map
from intelbus.settings import Settings
from intelbus.waiting import wait_for
from services.router.progress import routing_targets

__all__ = ["inbound_topics", "wait_until_deconflicted"]


def inbound_topics(settings: Settings) -> list[str]:
    """Every topic the service reads: each publisher's lookouts and operations."""
    topics, principals = topic_map(settings), load_principals(settings.policies_dir)
    return [
        topic
        for p in principals.publishers
        for topic in (topics.lookouts(p.id), topics.operations(p.id))
    ]


def wait_until_deconflicted(
    settings: Settings, timeout: float = 120, alive: Callable[[], bool] = lambda: True
) -> None:
    """Wait until the service has committed every message now in its inbound topics (its
    notices are committed with them); fail at once when ``alive`` says it is gone."""
    targets = {
        (topic, partition): end
        for topic in inbound_topics(settings)
        for partition, end in routing_targets(settings, topic).items()
    }
    probe = clients.consumer(settings, deconflict_group(settings), "intelbus-deconflict-progress")
    partitions = [TopicPartition(t, p) for t, p in targets]

    def done() -> bool:
        if not alive():
            raise RuntimeError("the deconfliction service exited")
        committed = clients.committed(probe, partitions)
        return all(tp.offset >= targets[(tp.topic, tp.partition)] for tp in committed)

    try:
        wait_for(done, timeout=timeout, what="the deconfliction service to read everything")
    finally:
        probe.close()
