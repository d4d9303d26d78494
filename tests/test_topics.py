"""Topics as code: apply creates what is declared, and applying again changes nothing."""

from __future__ import annotations

import dataclasses

from intelbus import clients
from intelbus.access.principals import load_principals
from intelbus.topics import apply_topics, load_topic_map
from tests.conftest import Bus


def _describe(bus: Bus, topic: str) -> dict[str, str]:
    from confluent_kafka.admin import ConfigResource  # noqa: PLC0415

    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = clients.admin(bus.settings)
    entries = admin.describe_configs([resource])[resource].result(10)
    return {name: entry.value for name, entry in entries.items()}


def test_apply_creates_declared_topics_with_their_configs(bus: Bus) -> None:
    """The bus fixture applied the topics: each exists with its partitions and configs, and
    the replication the cluster holds (min.insync.replicas one fewer, at least one)."""
    principals = load_principals(bus.settings.policies_dir)
    cluster = clients.admin(bus.settings).list_topics(timeout=10)
    metadata = cluster.topics
    for declared in bus.topics.specs(principals):
        spec = declared.on_cluster(len(cluster.brokers))
        assert len(metadata[spec.name].partitions) == spec.partitions
        replicas = {len(p.replicas) for p in metadata[spec.name].partitions.values()}
        assert replicas == {min(3, len(cluster.brokers))}, spec.name
        config = _describe(bus, spec.name)
        for key, value in spec.config.items():
            assert config[key] == value, (spec.name, key)
    assert _describe(bus, bus.topics.authorizations("cbp"))["cleanup.policy"] == "compact"
    assert _describe(bus, bus.topics.decisions)["retention.ms"] == "-1"
    for recipient in principals.recipients:
        assert {bus.topics.feed(recipient), bus.topics.alerts(recipient)} <= set(metadata)
        assert bus.topics.parked(recipient) in metadata


def test_apply_is_idempotent_and_repairs_drift(bus: Bus) -> None:
    specs = bus.topics.specs(load_principals(bus.settings.policies_dir))
    admin = clients.admin(bus.settings)
    assert set(apply_topics(admin, specs).values()) == {"unchanged"}

    # Someone changed the decisions topic's retention by hand: apply puts it back.
    drifted = next(s for s in specs if s.name == bus.topics.decisions)
    tampered = dataclasses.replace(drifted, config=drifted.config | {"retention.ms": "1000"})
    assert apply_topics(admin, [tampered])[drifted.name] == "updated: retention.ms=1000"
    assert apply_topics(admin, [drifted])[drifted.name] == "updated: retention.ms=-1"
    assert _describe(bus, drifted.name)["retention.ms"] == "-1"


def test_prefix_applies_to_every_topic(bus: Bus) -> None:
    topics = load_topic_map(bus.settings.topics_file, "abc.")
    principals = load_principals(bus.settings.policies_dir)
    assert all(spec.name.startswith("abc.") for spec in topics.specs(principals))
    assert topics.feed("cbp") == "abc.intel.feed.cbp"
