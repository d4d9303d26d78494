"""A decision log cut short is caught by `audit verify`: against the chain heads the router
committed with its offsets, and against a reviewer's checkpoint kept outside the topic
(consumers/audit/anchors.py, checkpoint.py).

First in memory (tests/audit_log.py), every way an anchor can fail to be held; then on the
broker, what a super user can do to the decisions topic: delete every record (DeleteRecords
up to the end), or delete the topic and write it again without its last transaction, and
delete the router's consumer groups too, so that only the reviewer's checkpoint is left."""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_END, KafkaError, KafkaException, TopicPartition

from cli import main
from consumers.audit.anchors import Anchor
from consumers.audit.checkpoint import load_checkpoint, save_checkpoint
from consumers.audit.log import Entry, read_decision_log
from intelbus import clients
from intelbus.access.principals import load_principals
from intelbus.chain import ChainHead
from intelbus.errors import IntelbusError
from intelbus.models import ChainSeal, PolicyDecision
from intelbus.names import router_group
from intelbus.position import Position
from intelbus.topic_reader import read_to_end
from intelbus.topics import apply_topics
from intelbus.waiting import wait_for
from producers.publisher import Publisher
from services.router.decisions import ChainBook
from services.router.progress import LANE_OF_ROLE, wait_until_all_routed
from tests import factories
from tests.audit_log import (
    EVENT,
    TOPICS,
    VERDICTS,
    DecisionLog,
    found,
    new_signer,
    pin_router_key,
    route_examples,
    signed_seal,
)
from tests.conftest import Bus
from tests.policy_fixtures import AT, POLICY
from tests.router_helpers import running_router

# -- in memory ------------------------------------------------------------------------------


@pytest.fixture
def log() -> DecisionLog:
    """Chain 0: decisions 0-5 sealed at 1, 3, 5; chain 1: decisions 0-2 sealed at 1, 2."""
    built = DecisionLog(new_signer())
    for partition, decisions in ((0, 2), (1, 2), (0, 2), (1, 1), (0, 2)):
        built.transaction(partition, decisions)
    return built


def _names(anchor: Anchor) -> str:
    return f"{anchor.source} names sequence {anchor.sequence} (head {anchor.head_hash[:12]}...)"


def test_honest_log_holds_the_committed_heads(log: DecisionLog) -> None:
    """Every chain head the router committed is a valid seal of the log."""
    report = log.verify(anchors=log.committed())
    assert found(report) == []
    assert (report.anchors, report.cut_short) == (2, False)
    assert {chain: seal.sequence for chain, seal in report.heads.items()} == {
        log.chain(0): 5,
        log.chain(1): 2,
    }


def test_last_transaction_cut_is_named_at_the_last_seal_left(log: DecisionLog) -> None:
    """Chain 0's last transaction (decisions 4, 5 and their seal) gone: what is left verifies,
    but the router committed sequence 5; named at the seal the chain now ends with."""
    anchors = log.committed()
    log.remove(log.decision(0, 4), log.decision(0, 5), log.seal(0, 5))
    report = log.verify(anchors=anchors)
    assert found(report) == [
        (
            log.seal(0, 3).where,
            log.chain(0),
            "truncated: the log's last valid seal of this chain is at sequence 3, but "
            + _names(anchors[0]),
        )
    ]
    assert report.cut_short


def test_emptied_log_names_every_chain(log: DecisionLog) -> None:
    """Nothing left at all (the finding: verify said OK on an empty log): every chain the
    router committed is named, with no offset left to name."""
    anchors = log.committed()
    log.records.clear()
    report = log.verify(anchors=anchors)
    assert found(report) == [
        (None, a.chain, "truncated: no record of this chain is left, but " + _names(a))
        for a in anchors
    ]


def test_rewritten_tail_is_named(log: DecisionLog) -> None:
    """The last transaction of chain 0 replaced by another one of the same length, sealed
    with the router's own key (an insider who holds it): the sequences match, the head does
    not; named at the seal that replaced it."""
    anchors = log.committed()
    log.remove(log.decision(0, 4), log.decision(0, 5), log.seal(0, 5))
    head = log.decision(0, 3).record
    book = ChainBook(log.signer, POLICY.version)
    topic = TOPICS.lookouts("cbp")
    book.restore(topic, 0, ChainHead(head.chain, 4, head.hash).to_metadata(), 0)
    source = Position(topic, 0, 9)
    for verdict in VERDICTS[-2:]:
        _, record = book.decision(source, EVENT, verdict, None, AT)
        log.append(0, decision=PolicyDecision.model_validate(record))
    _, seal = book.seal(topic, 0, AT)
    other = log.append(0, seal=ChainSeal.model_validate(seal))
    assert found(log.verify(anchors=anchors)) == [
        (
            other.where,
            log.chain(0),
            f"rewritten: the log's seal of sequence 5 has head {seal['headHash'][:12]}..., but "
            + _names(anchors[0]),
        )
    ]


def test_checkpoint_seal_not_signed_by_a_trusted_key_is_refused(log: DecisionLog) -> None:
    """A checkpoint's seals are verified before use: one re-signed by another key (the file
    edited to name a shorter log) is refused, saying whose seal and why."""
    genuine = log.seal(0, 3).sealed
    impostor = new_signer()
    forged = signed_seal(impostor, genuine.chain, 3, genuine.head_hash, genuine.previous_seal_hash)
    anchor = Anchor(forged.chain, 3, forged.head_hash, "checkpoint cp.json", forged)
    assert found(log.verify(anchors=[anchor])) == [
        (
            None,
            genuine.chain,
            f"checkpoint cp.json: its seal is refused: seal signed by untrusted key "
            f"{impostor.key_id}: not pinned, and no rotation from a trusted key names it",
        )
    ]


def test_checkpoint_round_trip_and_rollback(log: DecisionLog, tmp_path: Path) -> None:
    """A checkpoint written from a verified log reads back as one anchor per chain, which
    the log holds; cut the log short and the checkpoint names what is missing."""
    path = tmp_path / "checkpoint.json"
    save_checkpoint(path, TOPICS.decisions, log.verify().heads.values())
    anchors = load_checkpoint(path, TOPICS.decisions)
    assert sorted((a.chain, a.sequence) for a in anchors) == [(log.chain(0), 5), (log.chain(1), 2)]
    assert log.verify(anchors=anchors).ok
    log.remove(log.decision(1, 2), log.seal(1, 2))
    [(where, chain, what)] = found(log.verify(anchors=anchors))
    assert (where, chain) == (log.seal(1, 1).where, log.chain(1))
    assert what.startswith(
        f"truncated: the log's last valid seal of this chain is at sequence 1, but checkpoint "
        f"{path} (written "
    )


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b"{not json", "(top level): Invalid JSON"),
        (b'{"topic": "intel.policy-decisions", "seals": []}', "writtenAt: Field required"),
        (
            b'{"topic": "intel.policy-decisions", "writtenAt": "2026-01-01T00:00:00Z", '
            b'"seals": [{"chain": "c", "sequence": -1}]}',
            "seals.0.sequence: Input should be greater than or equal to 0",
        ),
    ],
)
def test_bad_checkpoint_is_named_by_file_and_field(
    tmp_path: Path, content: bytes, complaint: str
) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_bytes(content)
    with pytest.raises(IntelbusError, match="not a checkpoint") as error:
        load_checkpoint(path, TOPICS.decisions)
    assert f"{path}: {complaint}" in str(error.value)


def test_checkpoint_of_another_topic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    save_checkpoint(path, "other.policy-decisions", [])
    with pytest.raises(IntelbusError, match=r"is a checkpoint of other\.policy-decisions, not of"):
        load_checkpoint(path, TOPICS.decisions)


# -- on the broker --------------------------------------------------------------------------


@pytest.fixture
def routed(cli_env: Bus) -> Bus:
    route_examples(cli_env.settings)
    return cli_env


@pytest.fixture
def trusted(routed: Bus, tmp_path: Path) -> Path:
    return pin_router_key(routed.settings.keys_dir, tmp_path / "trusted-keys")


def _verify(capsys: pytest.CaptureFixture[str], trusted: Path, *extra: str) -> tuple[int, str]:
    code = main(["audit", "verify", "--trusted-keys", str(trusted), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _empty(bus: Bus) -> None:
    """Every record of the decisions topic deleted (DeleteRecords up to the end)."""
    admin = clients.admin(bus.settings)
    topic = bus.topics.decisions
    partitions = admin.list_topics(topic, timeout=30).topics[topic].partitions
    wanted = [TopicPartition(topic, p, OFFSET_END) for p in partitions]
    for future in admin.delete_records(wanted).values():
        future.result(timeout=30)


def _last_seals(bus: Bus) -> dict[str, ChainSeal]:
    """The last seal of every chain of the log."""
    last: dict[str, ChainSeal] = {}
    for entry in read_decision_log(bus.settings, bus.topics.decisions):
        seal = entry.seal
        if seal and (seal.chain not in last or seal.sequence > last[seal.chain].sequence):
            last[seal.chain] = seal
    return last


def test_emptied_log_is_truncated_against_the_committed_heads(
    routed: Bus, trusted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every record of the decisions topic deleted (DeleteRecords up to the end): verify
    names each chain the router committed, with the sequence its commit names."""
    sealed = _last_seals(routed)
    _empty(routed)
    code, output = _verify(capsys, trusted)
    assert code == 1, output
    for chain, seal in sealed.items():
        assert f"chain {chain}: truncated: no record of this chain is left" in output, output
        assert f"names sequence {seal.sequence} (head {seal.head_hash[:12]}...)" in output


def _rewrite_without(bus: Bus, dropped: set[tuple[int, int]]) -> None:
    """Delete the decisions topic and write it again, record by record, without ``dropped``
    (partition, offset)."""
    topic = bus.topics.decisions
    kept = [
        (Position.of(m).partition, m.key(), m.value())
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
    routed: Bus, trusted: Path, capsys: pytest.CaptureFixture[str]
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
    code, output = _verify(capsys, trusted)
    assert code == 1, output
    assert f"chain {chain}: truncated: " in output, output
    assert f"names sequence {last.sequence} (head {last.head_hash[:12]}...)" in output
    if before >= 0:
        assert f"the log's last valid seal of this chain is at sequence {before}" in output


def _delete_router_groups(bus: Bus) -> None:
    """The router's consumer groups deleted, and with them the heads committed in them (a
    static member that closed stays in its group until its session expires: retry)."""
    admin = clients.admin(bus.settings)
    groups = sorted({router_group(bus.settings, lane) for lane in LANE_OF_ROLE.values()})

    def gone(future: Future[None]) -> bool:
        try:
            future.result(timeout=15)
        except KafkaException as exception:
            if exception.args[0].code() == KafkaError.NON_EMPTY_GROUP:
                return False
            if exception.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                raise
        return True

    def deleted() -> bool:
        # Each group on its own: one already gone must not hide another still in use.
        futures = admin.delete_consumer_groups(groups, request_timeout=10).values()
        return all([gone(future) for future in futures])

    wait_for(deleted, timeout=60, what="the router's consumer groups to be deleted")


def test_checkpoint_catches_a_cut_when_the_router_commits_are_gone_too(
    routed: Bus, trusted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reviewer verifies and keeps a checkpoint; later the log is emptied and the router's
    consumer groups deleted, so the router's commits say nothing any more. Verify with the
    checkpoint still names every chain, citing the checkpoint."""
    checkpoint = tmp_path / "checkpoint.json"
    code, output = _verify(capsys, trusted, "--checkpoint", str(checkpoint))
    assert code == 0, output
    sealed = _last_seals(routed)
    assert f"checkpoint {checkpoint} written: {len(sealed)} chain head(s)" in output
    _empty(routed)
    _delete_router_groups(routed)
    code, output = _verify(capsys, trusted, "--checkpoint", str(checkpoint))
    assert code == 1, output
    for chain in sealed:
        assert (
            f"chain {chain}: truncated: no record of this chain is left, but checkpoint "
            f"{checkpoint}" in output
        ), output
    assert "the router's commit" not in output
    assert json.loads(checkpoint.read_text())["seals"], "a failed verify keeps the checkpoint"


def test_verify_extends_the_checkpoint_as_the_log_grows(
    routed: Bus, trusted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint written, then more events routed: the log extends it, verify passes and
    the checkpoint moves to the new heads."""
    checkpoint = tmp_path / "checkpoint.json"
    assert _verify(capsys, trusted, "--checkpoint", str(checkpoint))[0] == 0
    before = {a.chain: a.sequence for a in load_checkpoint(checkpoint, routed.topics.decisions)}
    with running_router(routed.settings):
        Publisher(routed.settings).publish(factories.lookout())
        wait_until_all_routed(routed.settings)
    code, output = _verify(capsys, trusted, "--checkpoint", str(checkpoint))
    assert code == 0, output
    after = {a.chain: a.sequence for a in load_checkpoint(checkpoint, routed.topics.decisions)}
    assert after.keys() >= before.keys()
    assert any(after[chain] > before.get(chain, -1) for chain in after)
