"""The decision-record builder and the chain book (services/router/decisions.py), no Kafka."""

from __future__ import annotations

from pathlib import Path

from intelbus.chain import (
    GENESIS,
    ChainHead,
    decision_hash,
    seal_message,
    verify_signature,
)
from intelbus.keydir import load_public_keys, mint_signer
from intelbus.models import ChainSeal, Decision, PolicyDecision
from intelbus.policy.engine import Verdict
from intelbus.position import Position
from services.router.decisions import ChainBook, avro_dict, decision_record
from tests import factories
from tests.policy_fixtures import AT, POLICY, verdicts

EVENT = factories.lookout(event_id="lk-golden")
VERDICT = Verdict(
    recipient="ice",
    decision=Decision.DELIVER_REDACTED,
    rules=("dhs-need-to-know", "eu-pnr-third-party"),
    removed_fields=("pnr",),
    authorization_ids=("auth-1",),
    onward_transfer=False,
    carried_eu_pnr=True,
    delivered_eu_pnr=False,
    notifications=("n-1",),
    reason="EU PNR removed",
    view={},
    view_type=None,
)
HEAD = ChainHead("lookouts/0@0", 3, "ab" * 32)
SOURCE = Position("lookouts", 0, 42)
# The hash this record had when the builder was two halves (decision_fields + ChainBook):
# logs written then must keep verifying.
GOLDEN_HASH = "a276c10a880bdf085cfa81a9eebc8a68acc3946d7bea84e05924242c79b8f8ae"


def _golden() -> dict[str, object]:
    return dict(
        decision_record(
            EVENT,
            VERDICT,
            head=HEAD,
            policy_version="policy-v1",
            decided_at=factories.NOW,
            source=SOURCE,
            feed_topic="intel.feed.ice",
        )
    )


def test_record_hash_is_unchanged() -> None:
    """A record's hash is exactly the one the earlier builder gave the same decision."""
    record = _golden()
    assert record["hash"] == GOLDEN_HASH


def test_record_is_a_policy_decision_linked_at_the_head() -> None:
    """The record is a valid PolicyDecision: the verdict's fields, the source, the feed,
    and the head's chain, sequence and hash as its id and links."""
    decision = PolicyDecision.model_validate(_golden())
    assert (decision.decision_id, decision.chain, decision.sequence, decision.previous_hash) == (
        "lookouts/0@0#3",
        "lookouts/0@0",
        3,
        "ab" * 32,
    )
    assert (decision.event_id, decision.recipient, decision.decision) == (
        "lk-golden",
        "ice",
        Decision.DELIVER_REDACTED,
    )
    assert (decision.rules, decision.removed_fields, decision.authorization_ids) == (
        ["dhs-need-to-know", "eu-pnr-third-party"],
        ["pnr"],
        ["auth-1"],
    )
    assert (decision.source_topic, decision.source_partition, decision.source_offset) == (
        "lookouts",
        0,
        42,
    )
    assert decision.feed_topic == "intel.feed.ice"
    assert decision.hash == decision_hash(decision.to_avro())


def test_chain_book_links_records_and_rolls_back(tmp_path: Path) -> None:
    """Each decision links to the one before; a rollback returns to the committed head and
    the next decision reuses the sequence it would have had."""
    book = ChainBook(mint_signer(tmp_path), POLICY.version)
    book.restore("lookouts", 0, None, 0)
    first, second = list(verdicts(EVENT).values())[:2]
    chain, a = book.decision(SOURCE, EVENT, first, None, AT)
    _, b = book.decision(SOURCE, EVENT, second, None, AT)
    assert chain == "lookouts/0@0"
    assert (a["sequence"], a["previousHash"]) == (0, GENESIS)
    assert (b["sequence"], b["previousHash"]) == (1, a["hash"])
    assert all(r["hash"] == decision_hash(avro_dict(r)) for r in (a, b))
    assert book.moved() == [("lookouts", 0)]

    book.rollback()
    assert book.moved() == []
    _, again = book.decision(SOURCE, EVENT, first, None, AT)
    assert again == a


def test_seal_signs_the_moved_head_and_links_to_the_last_seal(tmp_path: Path) -> None:
    """A seal names the head's sequence and hash and the previous seal's head (the genesis
    for the first), signed with the router's key; after a commit nothing has moved."""
    book = ChainBook(mint_signer(tmp_path), POLICY.version)
    book.restore("lookouts", 0, None, 0)
    [public_key] = load_public_keys(tmp_path).values()
    heads: list[str] = []
    for _ in range(2):
        _, record = book.decision(SOURCE, EVENT, next(iter(verdicts(EVENT).values())), None, AT)
        _, sealed = book.seal("lookouts", 0, AT)
        seal = ChainSeal.model_validate(sealed)
        assert verify_signature(public_key, seal_message(seal.to_avro()), seal.signature)
        assert (seal.sequence, seal.head_hash) == (record["sequence"], record["hash"])
        assert seal.previous_seal_hash == (heads[-1] if heads else GENESIS)
        heads.append(seal.head_hash)
        book.commit()
        assert book.moved() == []
