"""How far a router has got: its lanes' committed offsets against what is in the topics.

Used to wait for the router (the demo, the tests) and to watch its lag.
"""

from __future__ import annotations

from confluent_kafka import TopicPartition

from intelbus import clients
from intelbus.access.principals import load_principals
from intelbus.names import router_group, topic_map
from intelbus.settings import Settings
from intelbus.topic_reader import read_to_end
from intelbus.waiting import wait_for

# The router's lanes, by the inbound topic role each reads (deploy/topics.yaml).
LANE_OF_ROLE = {
    "lookouts": "lookouts",
    "outcomes": "lookouts",
    "hits": "lookouts",
    "officer_safety": "officer-safety",
}

__all__ = [
    "LaneProgress",
    "lane_assignments",
    "lane_is_running",
    "routing_targets",
    "wait_until_all_routed",
    "wait_until_authorizations_applied",
    "wait_until_routed",
]


def routing_targets(settings: Settings, topic: str) -> dict[int, int]:
    """Per partition, the offset a consumer commits once it has processed every message now
    in ``topic``: the last message's offset + 1 (a transaction marker after it is skipped)."""
    targets: dict[int, int] = {}
    for message in read_to_end(settings, topic):
        targets[message.partition() or 0] = (message.offset() or 0) + 1
    return targets


class LaneProgress:
    """How much of ``targets`` a router lane (its consumer group) has committed.

    One probe client serves every sample, so watching closely costs one offset request a
    sample, not a new client: a benchmark samples often on the router's own CPUs."""

    def __init__(self, settings: Settings, lane: str, topic: str, targets: dict[int, int]):
        self.targets = targets
        self._partitions = [TopicPartition(topic, p) for p in targets]
        self._probe = clients.consumer(settings, router_group(settings, lane), "intelbus-progress")

    def fraction(self) -> float:
        if not self.targets:
            return 1.0
        committed = {
            tp.partition: tp.offset for tp in clients.committed(self._probe, self._partitions)
        }
        done = sum(max(0, min(committed[p], end)) for p, end in self.targets.items())
        return done / max(sum(self.targets.values()), 1)

    def close(self) -> None:
        self._probe.close()

    def __enter__(self) -> LaneProgress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def lane_assignments(settings: Settings, lane: str) -> list[int]:
    """How many partitions each member of the lane's consumer group has (empty unless the
    group is Stable)."""
    group = router_group(settings, lane)
    admin = clients.admin(settings)  # must outlive the future
    description = admin.describe_consumer_groups([group], request_timeout=10)[group].result(15)
    if not str(description.state).endswith("STABLE"):
        return []
    return [len(member.assignment.topic_partitions) for member in description.members]


def lane_is_running(settings: Settings, lane: str) -> bool:
    """Has the lane's consumer group a member with partitions assigned (state Stable)?"""
    return bool(lane_assignments(settings, lane))


def wait_until_routed(
    settings: Settings, *topics_by_lane: tuple[str, str], timeout: float = 120
) -> None:
    """Wait until each lane has committed every message now in its topic."""
    for lane, topic in topics_by_lane:
        with LaneProgress(settings, lane, topic, routing_targets(settings, topic)) as progress:
            wait_for(
                lambda progress=progress: progress.fraction() >= 1.0,  # type: ignore[misc]
                timeout=timeout,
                what=f"the {lane} lane to process everything in {topic}",
                interval=0.1,
            )


def wait_until_all_routed(settings: Settings, timeout: float = 120) -> None:
    """Wait until both lanes have committed every message now in every publisher's topics."""
    topics, principals = topic_map(settings), load_principals(settings.policies_dir)
    wait_until_routed(
        settings,
        *[
            (LANE_OF_ROLE[role], topics.of_publisher(role, p.id).name)
            for role in LANE_OF_ROLE
            for p in principals.publishers
        ],
        timeout=timeout,
    )


def wait_until_authorizations_applied(settings: Settings, authorizations_topic: str) -> None:
    """Wait until both lanes have applied every authorization published so far."""
    wait_until_routed(
        settings,
        ("lookouts.authorizations", authorizations_topic),
        ("officer-safety.authorizations", authorizations_topic),
    )
