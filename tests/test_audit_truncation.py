"""A decision log cut short is caught by `audit verify`: against the chain heads the router
committed with its offsets, and against a reviewer's checkpoint kept outside the topic.

The attacks are what a super user of the broker can do to the decisions topic: delete every
record (DeleteRecords up to the end), or delete the topic and write it again without its
last transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from confluent_kafka import OFFSET_END, TopicPartition

from cli import main
from consumers.audit.log import Entry, read_decision_log
from intelbus import clients
from intelbus.access.principals import load_principals
from intelbus.models import ChainSeal
from intelbus.topic_reader import read_to_end
from intelbus.topics import apply_topics
from intelbus.waiting import wait_for
from producers.publisher import Publisher
from services.router.progress import wait_until_all_routed
from services.scenario import PHASE_1, load_phase
from tests.conftest import Bus
from tests.router_helpers import running_router


@pytest.fixture
def routed(cli_env: Bus) -> Bus:
    """The phase-1 examples routed: an honest decision log."""
    publisher = Publisher(cli_env.settings)
    with running_router(cli_env.settings):
        for record in load_phase(PHASE_1, dt.datetime.now(dt.UTC)):
            publisher.publish(record)
        wait_until_all_routed(cli_env.settings)
    return cli_env


def _verify(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["audit", "verify", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _last_seals(bus: Bus) -> dict[str, ChainSeal]:
    """The last seal of every chain of the log."""
    last: dict[str, ChainSeal] = {}
    for entry in read_decision_log(bus.settings, bus.topics.decisions):
        seal = entry.seal
        if seal is not None and (seal.chain not in last or seal.sequence > last[seal.chain].sequence):
            last[seal.chain] = seal
    return last


def test_emptied_log_is_truncated_against_the_committed_heads(
    routed: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every record of the decisions topic deleted (DeleteRecords up to the end): verify
    names each chain the router committed, with the sequence its commit names."""
    sealed = _last_seals(routed)
    admin = clients.admin(routed.settings)
    topic = routed.topics.decisions
    partitions = admin.list_topics(topic, timeout=30).topics[topic].partitions
    wanted = [TopicPartition(topic, p, OFFSET_END) for p in partitions]
    for future in admin.delete_records(wanted).values():
        future.result(timeout=30)
    code, output = _verify(capsys)
    assert code == 1, output
    for chain, seal in sealed.items():
        assert f"chain {chain}: truncated: no seal of this chain is left" in output, output
        assert f"names sequence {seal.sequence} (head {seal.head_hash[:12]}...)" in output


def _rewrite_without(bus: Bus, dropped: set[tuple[int, int]]) -> None:
    """Delete the decisions topic and write it again, record by record, without ``dropped``
    (partition, offset)."""
    topic = bus.topics.decisions
    kept = [
        (m.partition(), m.key(), m.value())
        for m in read_to_end(bus.settings, topic)
        if (m.partition(), m.offset()) not in dropped
    ]
    admin = clients.admin(bus.settings)
    admin.delete_topics([topic])[topic].result(timeout=30)
    wait_for(
        lambda: topic not in admin.list_topics(timeout=10).topics,
        timeout=60,
        what=f"{topic} to be deleted",
    )
    [spec] = [
        s for s in bus.topics.specs(load_principals(bus.settings.policies_dir)) if s.name == topic
    ]
    apply_topics(admin, [spec])
    producer = clients.producer(bus.settings, "forger")
    for partition, key, value in kept:
        producer.produce(topic, value, key, partition=partition)
    assert producer.flush(30) == 0


def _last_transaction(entries: list[Entry], chain: str) -> tuple[set[tuple[int, int]], int]:
    """Where the chain's last seal and the decisions only it vouches for sit, and the sequence
    of the seal before it (-1 if none)."""
    seals = sorted(
        (e for e in entries if e.seal and e.seal.chain == chain),
        key=lambda e: e.seal.sequence if e.seal else 0,
    )
    before = seals[-2].seal.sequence if len(seals) > 1 and seals[-2].seal else -1
    cut = {
        (e.position.partition, e.position.offset)
        for e in entries
        if e.decision and e.decision.chain == chain and e.decision.sequence > before
    }
    return cut | {(seals[-1].position.partition, seals[-1].position.offset)}, before


def test_last_transaction_cut_is_truncated_against_the_committed_heads(
    routed: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    """The decisions topic written again without the last transaction of its longest chain
    (its decisions and its seal): everything left verifies, but the router committed a
    later head; verify names the chain, the sequence the log now ends at and the one the
    router's commit names."""
    sealed = _last_seals(routed)
    chain, last = max(sealed.items(), key=lambda item: item[1].sequence)
    cut, before = _last_transaction(
        list(read_decision_log(routed.settings, routed.topics.decisions)), chain
    )
    _rewrite_without(routed, cut)
    code, output = _verify(capsys)
    assert code == 1, output
    assert f"chain {chain}: truncated: " in output, output
    assert f"names sequence {last.sequence} (head {last.head_hash[:12]}...)" in output
    if before >= 0:
        assert f"the log's last seal of this chain is at sequence {before}" in output
