"""The audit verifier (consumers.audit.verify.verify_log) on a decision log built in memory, no
Kafka (tests/audit_log.py): records and seals made by the router's own ChainBook and key,
from the policy engine's verdicts on one lookout; the reviewer pins the router's key.

The log: chain 0 (lookouts partition 0) has decisions 0-5, sealed at 1, 3 and 5 (three
transactions); chain 1 (partition 1) has decisions 0-2, sealed at 1 and 2. Each chain's
records sit in one partition of the decisions topic, offsets counting from 0.

verify_log's branches, each asserted below with the topic, partition and offset it names:

- reading: a record that could not be read (``problem``) -> "unreadable record", chain "?";
  decisions and seals are counted per chain (the honest log: counts, no problems).
- each decision: its hash does not match its content -> "altered record"; a second record
  with the same hash -> "duplicate of the record at offset N"; else indexed by hash.
- each seal (consumers/audit/trust.py, tested in test_audit_trust.py): signed by a key not
  trusted -> "seal signed by untrusted key"; a field changed after signing (sealedAt here)
  -> "altered or forged seal"; a second copy of a valid seal -> "duplicate of the seal at
  offset N"; else valid.
- valid seals in order: the first does not start at the genesis -> "records missing before
  the first seal"; a later one does not link to the previous seal's head -> "a seal is
  missing"; its records' sequences do not go on from the previous seal's -> "sequence jump".
- the walk back from a seal: a record missing -> "gap: record N", named at the record (or the
  seal) that points to it; a record whose sequence is not the one expected -> "sequence M
  where N belongs"; the walk ends at the previous seal's head, or at the genesis even when
  the seal names another previous head.
- afterwards, every record no walk reached -> "forged or unsealed record" (decisions after
  the last seal, a forged record linked to the head, records below a broken walk).
- anchors (a chain head the router committed, a reviewer's checkpoint): tested in
  test_audit_truncation.py.

Not covered: an Entry with none of decision, seal, rotation or problem is skipped without
being counted or reported; read_decision_log never yields one.
"""

from __future__ import annotations

import datetime as dt

import pytest

from intelbus.chain import decision_hash
from intelbus.models import Decision, PolicyDecision
from tests.audit_log import AT, DecisionLog, Found, Written, new_signer, signed_seal
from tests.audit_log import found as _found


@pytest.fixture
def log() -> DecisionLog:
    """Chain 0: decisions 0-5 sealed at 1, 3, 5; chain 1: decisions 0-2 sealed at 1, 2."""
    built = DecisionLog(new_signer())
    for partition, decisions in ((0, 2), (1, 2), (0, 2), (1, 1), (0, 2)):
        built.transaction(partition, decisions)
    return built


_signed = signed_seal
UNPINNED = ": not pinned, and no rotation from a trusted key names it"


def _unsealed(*written: Written) -> list[Found]:
    return [
        (w.where, w.record.chain, "forged or unsealed record: no signed seal vouches for it")
        for w in written
    ]


def test_honest_log_verifies(log: DecisionLog) -> None:
    """Records and seals as the router writes them verify: no problem, everything counted."""
    report = log.verify()
    assert _found(report) == []
    assert report.ok
    assert (report.decisions, report.seals, report.chains) == (9, 5, 2)


def test_honest_log_in_any_read_order_verifies(log: DecisionLog) -> None:
    """The verifier does not depend on the order partitions are read in."""
    log.records.reverse()
    report = log.verify()
    assert report.ok, _found(report)


def test_unreadable_record_is_named_and_the_rest_verifies(log: DecisionLog) -> None:
    """A record that could not be decoded is reported where it sits, chain unknown."""
    bad = log.append(1, problem="undecodable: EOFError: truncated")
    report = log.verify()
    assert _found(report) == [
        (bad.where, "?", "unreadable record: undecodable: EOFError: truncated")
    ]
    assert (report.decisions, report.seals) == (9, 5)


def test_altered_record_is_named_with_the_gap_it_leaves(log: DecisionLog) -> None:
    """A record changed in place keeps its old hash: reported as altered; the seal's walk
    cannot find that hash (a gap at the seal pointing to it) and the record below it is
    then vouched for by no seal."""
    original = log.decision(0, 3)
    altered = log.replace(
        original, decision=original.record.model_copy(update={"recipient": "ibet-blaine"})
    )
    chain = log.chain(0)
    head = original.record.hash
    assert _found(log.verify()) == sorted(
        [
            (altered.where, chain, "altered record: its hash does not match its content"),
            (log.seal(0, 3).where, chain, f"gap: record 3 (hash {head[:12]}...) is missing"),
            *_unsealed(log.decision(0, 2)),
        ]
    )


def test_duplicate_record_names_both_offsets(log: DecisionLog) -> None:
    """A record written twice: the second copy is reported, naming the first one's offset."""
    first = log.decision(0, 2)
    copy = log.append(0, decision=first.record)
    assert _found(log.verify()) == [
        (copy.where, log.chain(0), f"duplicate of the record at offset {first.where[2]}")
    ]


def test_gap_inside_a_transaction_is_named_at_the_record_pointing_to_it(log: DecisionLog) -> None:
    """A record deleted below a seal's head: the record whose previousHash names it."""
    missing = log.decision(0, 4)
    log.remove(missing)
    assert _found(log.verify()) == [
        (
            log.decision(0, 5).where,
            log.chain(0),
            f"gap: record 4 (hash {missing.record.hash[:12]}...) is missing",
        )
    ]


def test_missing_head_is_named_at_the_seal(log: DecisionLog) -> None:
    """A sealed head deleted (DeleteRecords from the start of a partition takes 0 and 1):
    the seal that names it is where the gap shows."""
    log.remove(log.decision(0, 0))
    missing = log.decision(0, 1)
    log.remove(missing)
    assert _found(log.verify()) == [
        (
            log.seal(0, 1).where,
            log.chain(0),
            f"gap: record 1 (hash {missing.record.hash[:12]}...) is missing",
        )
    ]


def test_out_of_sequence_record_is_named(log: DecisionLog) -> None:
    """A correctly hashed record, under a seal signed with the router's key, whose sequence
    is not the one its place in the chain needs: named, and nothing on that walk counts as
    sealed."""
    original = log.decision(0, 5)
    renumbered = original.record.to_avro() | {"sequence": 9, "decisionId": f"{log.chain(0)}#9"}
    renumbered["hash"] = decision_hash(renumbered)
    moved = log.replace(original, decision=PolicyDecision.model_validate(renumbered))
    chain = log.chain(0)
    log.replace(
        log.seal(0, 5),
        seal=_signed(log.signer, chain, 5, renumbered["hash"], log.decision(0, 3).record.hash),
    )
    assert _found(log.verify()) == sorted(
        [
            (moved.where, chain, "sequence 9 where 5 belongs"),
            *_unsealed(log.decision(0, 4), moved),
        ]
    )


def test_decisions_after_the_last_seal_are_unsealed(log: DecisionLog) -> None:
    """The last transaction's seal is gone: its decisions are reported one by one."""
    log.remove(log.seal(0, 5))
    assert _found(log.verify()) == _unsealed(log.decision(0, 4), log.decision(0, 5))


def test_forged_record_linked_to_the_head_is_unsealed(log: DecisionLog) -> None:
    """A well-formed, correctly hashed record appended after the head by someone who can
    write to the topic but has no signing key: no seal vouches for it."""
    head = log.decision(1, 2).record
    forged = head.to_avro() | {
        "decisionId": f"{head.chain}#3",
        "decision": Decision.DELIVER.value,
        "recipient": "ibet-blaine",
        "sequence": 3,
        "previousHash": head.hash,
    }
    forged["hash"] = decision_hash(forged)
    appended = log.append(1, decision=PolicyDecision.model_validate(forged))
    assert _found(log.verify()) == _unsealed(appended)


def test_seal_signed_by_an_unknown_key(log: DecisionLog) -> None:
    """A seal, otherwise right, signed by a key that is not among the public keys: named,
    and the decisions only it would vouch for are unsealed."""
    genuine = log.seal(0, 5).sealed
    impostor = new_signer()
    foreign = log.replace(
        log.seal(0, 5),
        seal=_signed(
            impostor, genuine.chain, genuine.sequence, genuine.head_hash, genuine.previous_seal_hash
        ),
    )
    assert _found(log.verify()) == sorted(
        [
            (
                foreign.where,
                genuine.chain,
                f"seal signed by untrusted key {impostor.key_id}{UNPINNED}",
            ),
            *_unsealed(log.decision(0, 4), log.decision(0, 5)),
        ]
    )


def test_forged_seal_signature(log: DecisionLog) -> None:
    """A seal naming the router's key whose signature does not verify (here: the genuine
    signature over another head): named as forged, its decisions unsealed."""
    genuine = log.seal(0, 3).sealed
    forged = log.replace(
        log.seal(0, 3),
        seal=genuine.model_copy(update={"head_hash": log.decision(0, 2).record.hash}),
    )
    assert _found(log.verify()) == sorted(
        [
            (forged.where, genuine.chain, "altered or forged seal: its signature does not verify"),
            # the next seal no longer follows a valid one, and 2-3 lose their seal
            (
                log.seal(0, 5).where,
                genuine.chain,
                "a seal is missing: this seal does not follow the previous one",
            ),
            *_unsealed(log.decision(0, 2), log.decision(0, 3)),
        ]
    )


def test_first_seal_missing(log: DecisionLog) -> None:
    """The first seal is gone: the next one does not start at the genesis."""
    log.remove(log.seal(0, 1))
    assert _found(log.verify()) == sorted(
        [
            (
                log.seal(0, 3).where,
                log.chain(0),
                "records missing before the first seal (the chain does not start at its genesis)",
            ),
            *_unsealed(log.decision(0, 0), log.decision(0, 1)),
        ]
    )


def test_seal_missing_between_two_seals(log: DecisionLog) -> None:
    """A seal in the middle is gone: the next one does not follow the previous one, and
    the decisions only the missing seal vouched for are unsealed."""
    log.remove(log.seal(0, 3))
    assert _found(log.verify()) == sorted(
        [
            (
                log.seal(0, 5).where,
                log.chain(0),
                "a seal is missing: this seal does not follow the previous one",
            ),
            *_unsealed(log.decision(0, 2), log.decision(0, 3)),
        ]
    )


def test_duplicate_seal_names_the_first_copy(log: DecisionLog) -> None:
    """A genuine seal written a second time is a duplicate (not "a seal is missing"): named
    where the copy sits, with the offset of the first copy, and nothing else is reported."""
    first = log.seal(0, 3)
    copy = log.append(0, seal=first.sealed)
    assert _found(log.verify()) == [
        (copy.where, log.chain(0), f"duplicate of the seal at offset {first.where[2]}")
    ]


def test_altered_seal_time_is_named(log: DecisionLog) -> None:
    """A seal's sealedAt changed after signing (a day later): every field of a seal is signed,
    so its signature no longer verifies and the decisions only it vouched for are unsealed."""
    genuine = log.seal(0, 5)
    altered = log.replace(
        genuine,
        seal=genuine.sealed.model_copy(update={"sealed_at": AT + dt.timedelta(days=1)}),
    )
    assert _found(log.verify()) == sorted(
        [
            (altered.where, log.chain(0), "altered or forged seal: its signature does not verify"),
            *_unsealed(log.decision(0, 4), log.decision(0, 5)),
        ]
    )


def test_sequence_jump_between_seals_is_named(log: DecisionLog) -> None:
    """Seals link by head hash; their sequences must continue too. A record numbered 7 right
    after the seal of sequence 1, hash-linked to it and sealed with the router's key: the
    walk back finds every link, but the sequences jump from 1 to 7, named at the seal."""
    chain = log.chain(1)
    original = log.decision(1, 2)
    jumped = original.record.to_avro() | {"sequence": 7, "decisionId": f"{chain}#7"}
    jumped["hash"] = decision_hash(jumped)
    log.replace(original, decision=PolicyDecision.model_validate(jumped))
    seal = log.replace(
        log.seal(1, 2),
        seal=_signed(log.signer, chain, 7, jumped["hash"], log.decision(1, 1).record.hash),
    )
    assert _found(log.verify()) == [
        (
            seal.where,
            chain,
            "sequence jump: the previous seal ends at sequence 1, this seal's records start "
            "at sequence 7",
        )
    ]


def test_walk_back_stops_at_the_genesis(log: DecisionLog) -> None:
    """A first seal, signed with the router's key, naming a previous seal head that is not in
    the chain: the walk ends at the genesis (its records are sealed) and the seal is named
    for not starting there."""
    first = log.seal(0, 1).sealed
    named = log.replace(
        log.seal(0, 1),
        seal=_signed(log.signer, first.chain, 1, first.head_hash, "f" * 64),
    )
    assert _found(log.verify()) == [
        (
            named.where,
            first.chain,
            "records missing before the first seal (the chain does not start at its genesis)",
        )
    ]


def test_seal_in_the_retired_signing_version_is_refused(log: DecisionLog) -> None:
    """A seal claiming signing version 1 (which left sealedAt and keyId unsigned) is refused
    whatever its signature, naming the version; its decisions are unsealed."""
    genuine = log.seal(0, 5)
    old = log.replace(genuine, seal=genuine.sealed.model_copy(update={"signature_version": 1}))
    assert _found(log.verify()) == sorted(
        [
            (
                old.where,
                log.chain(0),
                "seal in signing version 1, which leaves sealedAt and keyId unsigned: only "
                "version 2 is accepted",
            ),
            *_unsealed(log.decision(0, 4), log.decision(0, 5)),
        ]
    )
