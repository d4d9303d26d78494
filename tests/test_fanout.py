"""The router's fan-out (services/router/fanout.py) without Kafka: what it produces for each
inbound message, from the real policy set, codecs with made-up schema ids and a chain book
signing with a key in a temporary directory."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from intelbus.access.principals import load_principals
from intelbus.chain import (
    GENESIS,
    decision_hash,
    seal_message,
    verify_signature,
)
from intelbus.headers import DeadLetterHeaders, DeliveryHeaders
from intelbus.keydir import load_public_keys, mint_signer
from intelbus.models import (
    ChainSeal,
    Decision,
    DisclosureAuthorization,
    LifecycleNotice,
    Lookout,
    OfficerSafetyAlert,
    Pointer,
    PolicyDecision,
    Record,
)
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import Event, PolicyEngine, Verdict
from intelbus.position import Position
from intelbus.reader import ContractReader, Rejected
from intelbus.serde import FastCodec, WriterSchemas
from intelbus.settings import Settings
from intelbus.topics import load_topic_map
from services.router.decisions import ChainBook
from services.router.fanout import Fanout, FanoutTopics, Inbound, Outbound
from services.router.serdes import Codecs
from tests import factories
from tests.policy_fixtures import AT, POLICY, RECIPIENTS, verdicts
from tests.scenarios import Scenario, scenarios

SETTINGS = Settings()
TOPICS = load_topic_map(SETTINGS.topics_file, "")
PRINCIPALS = load_principals(SETTINGS.policies_dir)
ROUTER = "test-router-0"
SCENARIOS = scenarios(AT)
_IDS: dict[type[Record], int] = {
    Lookout: 9001,
    OfficerSafetyAlert: 9002,
    Pointer: 9003,
    PolicyDecision: 9004,
    ChainSeal: 9005,
    LifecycleNotice: 9006,
}
# The registry is never asked: every schema id read here is one of the codecs' own.
_WRITERS = WriterSchemas(SchemaRegistryClient({"url": "http://127.0.0.1:9"}))


class CountingCodec(FastCodec):
    """A codec that counts what it encodes."""

    def __init__(self, model: type[Record]) -> None:
        super().__init__(model, SETTINGS.schemas_dir, _IDS[model])
        self.encoded = 0

    def encode(self, record: dict[str, Any]) -> bytes:
        self.encoded += 1
        return super().encode(record)


def _reader(*models: type[Record]) -> ContractReader:
    codecs = [FastCodec(model, SETTINGS.schemas_dir, _IDS[model]) for model in models]
    return ContractReader(codecs, _WRITERS, SETTINGS.max_event_bytes)


OUTPUT = _reader(*_IDS)  # reads anything the fan-out writes
R = TypeVar("R", bound=Record)


def _read(value: bytes | None, model: type[R]) -> R:
    record = OUTPUT.read(value).record
    assert isinstance(record, model)
    return record


@dataclass
class Lane:
    """A lane's fan-out over one inbound topic, without its consumer and producer."""

    event_model: type[Lookout] | type[OfficerSafetyAlert]
    keys_dir: Path
    authorizations: tuple[DisclosureAuthorization, ...] = ()
    offsets: Counter[tuple[str, int]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        lookouts = self.event_model is Lookout
        inbound_role = "lookouts" if lookouts else "officer_safety"
        # Each publisher's own inbound topic, and the agency whose publisher alone writes it.
        self.topics = {
            p.agency: TOPICS.of_publisher(inbound_role, p.id).name for p in PRINCIPALS.publishers
        }
        self.role = "feed" if lookouts else "alerts"
        self.codecs = Codecs(
            CountingCodec(self.event_model),
            CountingCodec(Pointer),
            CountingCodec(LifecycleNotice),
            CountingCodec(PolicyDecision),
            CountingCodec(ChainSeal),
        )
        self.events = _reader(self.event_model)
        self.chains = ChainBook(mint_signer(self.keys_dir), POLICY.version)
        feeds = {r: TOPICS.of_recipient(self.role, r).name for r in RECIPIENTS}
        self.fanout = Fanout(
            PolicyEngine(POLICY, AuthorizationBook(self.authorizations, approved_by="CBP")),
            self.chains,
            FanoutTopics(
                feeds,
                TOPICS.decisions,
                TOPICS.dead_letter,
                {topic: agency for agency, topic in self.topics.items()},
            ),
            self.codecs,
            ROUTER,
        )

    def inbound(self, value: bytes | None, partition: int = 0, agency: str = "CBP") -> Inbound:
        """The next message of ``partition`` of ``agency``'s topic (its chain restored at its
        first)."""
        topic = self.topics[agency]
        offset = self.offsets[(topic, partition)]
        if offset == 0:
            self.chains.restore(topic, partition, None, 0)
        self.offsets[(topic, partition)] += 1
        return Inbound(Position(topic, partition, offset), b"subject-key", value)

    def route(
        self, event: Event, partition: int = 0, agency: str | None = None
    ) -> tuple[Inbound, list[Outbound]]:
        """Route ``event`` as published by ``agency`` (by default: its declared originator)."""
        # Encoded with the reader's codec: the counting one counts only what the fan-out does.
        value = self.events.codec(self.event_model).encode(event.to_avro())
        inbound = self.inbound(value, partition, agency or event.originator.agency)
        return inbound, self.fanout.route(inbound, self.events.read(inbound.value), AT)

    def encoded(self, codec: FastCodec) -> int:
        assert isinstance(codec, CountingCodec)
        return codec.encoded


def _headers(outbound: Outbound) -> dict[str, str]:
    return {
        key: value.decode() if isinstance(value, bytes) else value or ""
        for key, value in outbound.headers or []
    }


def _decisions(outbound: list[Outbound]) -> list[PolicyDecision]:
    return [_read(o.value, PolicyDecision) for o in outbound if o.topic == TOPICS.decisions]


def _lane(scenario: Scenario, keys_dir: Path) -> Lane:
    model = Lookout if isinstance(scenario.event, Lookout) else OfficerSafetyAlert
    return Lane(model, keys_dir, scenario.authorizations)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_outbound_follows_the_engines_verdicts(scenario: Scenario, tmp_path: Path) -> None:
    """Per recipient, in order: its view on its feed (unless denied) with the delivery
    headers, then its decision record keyed by the chain; a whole delivery is the input's
    bytes, a redacted one decodes to the engine's view, a pointer to a Pointer."""
    lane = _lane(scenario, tmp_path)
    inbound, outbound = lane.route(scenario.event)
    expected = verdicts(scenario.event, *scenario.authorizations, at=AT)
    decisions = iter(_decisions(outbound))
    records = iter(o for o in outbound if o.topic != TOPICS.dead_letter)
    for recipient, verdict in expected.items():
        feed = TOPICS.of_recipient(lane.role, recipient).name
        decision = next(decisions)
        assert (decision.recipient, decision.decision) == (recipient, verdict.decision)
        assert (decision.rules, decision.removed_fields) == (
            list(verdict.rules),
            list(verdict.removed_fields),
        )
        if verdict.view is not None:
            delivery = next(records)
            assert (delivery.topic, delivery.key) == (feed, inbound.key)
            assert DeliveryHeaders.decode(_headers(delivery)) == DeliveryHeaders(
                scenario.event.event_id,
                verdict.decision.label,
                verdict.rules,
                verdict.removed_fields,
                decision.decision_id,
                POLICY.version,
            )
            _assert_view(delivery.value, verdict, inbound)
        assert decision.feed_topic == (feed if verdict.view is not None else None)
        record = next(records)
        assert (record.topic, record.key) == (TOPICS.decisions, decision.chain.encode())
    assert next(records, None) is None


def _assert_view(value: bytes | None, verdict: Verdict, inbound: Inbound) -> None:
    if verdict.decision is Decision.DELIVER:
        assert value == inbound.value
        return
    assert verdict.view_type is not None
    model = Pointer if verdict.decision is Decision.POINTER else verdict.view_type
    assert _read(value, model) == model.model_validate(verdict.view)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_each_distinct_view_is_encoded_once(scenario: Scenario, tmp_path: Path) -> None:
    """Recipients getting the same redaction share one encoding (the same bytes); whole
    deliveries encode nothing; every decision record is encoded once."""
    lane = _lane(scenario, tmp_path)
    _, outbound = lane.route(scenario.event)
    expected = verdicts(scenario.event, *scenario.authorizations, at=AT).values()
    redacted = {v.removed_fields for v in expected if v.decision is Decision.DELIVER_REDACTED}
    pointers = sum(v.decision is Decision.POINTER for v in expected)
    assert lane.encoded(lane.codecs.event) == len(redacted)
    assert lane.encoded(lane.codecs.pointer) == min(pointers, 1)
    assert lane.encoded(lane.codecs.decision) == len(RECIPIENTS)
    views = [o.value for o in outbound if o.topic not in (TOPICS.decisions, TOPICS.dead_letter)]
    assert len({id(v) for v in views}) == len({bytes(v or b"") for v in views})


def test_a_shared_redaction_is_one_object(tmp_path: Path) -> None:
    """The EU PNR scenario has two recipients with the same redaction: they get the very
    same bytes object (the test above would pass vacuously without such a scenario)."""
    [scenario] = [s for s in SCENARIOS if s.name == "eu-pnr"]
    lane = _lane(scenario, tmp_path)
    _, outbound = lane.route(scenario.event)
    values = Counter(
        id(o.value)
        for o in outbound
        if _headers(o).get(DeliveryHeaders.DECISION) == "deliver-redacted"
    )
    assert sorted(values.values()) == [1, 2]


def test_decision_records_chain_per_partition(tmp_path: Path) -> None:
    """Decisions of one inbound partition form one chain: sequences from 0 without gaps, each
    linked to the previous hash, each hash the record's own; another partition has its own."""
    lane = Lane(Lookout, tmp_path)
    chains: dict[str, list[PolicyDecision]] = {}
    for n, partition in enumerate([0, 0, 1, 0]):
        _, outbound = lane.route(factories.lookout(event_id=f"lk-{n}"), partition)
        for decision in _decisions(outbound):
            chains.setdefault(decision.chain, []).append(decision)
    assert sorted(chains) == [f"{TOPICS.lookouts('cbp')}/0@0", f"{TOPICS.lookouts('cbp')}/1@0"]
    for chain, decisions in chains.items():
        assert [d.sequence for d in decisions] == list(range(len(decisions)))
        assert [d.previous_hash for d in decisions] == [GENESIS] + [d.hash for d in decisions[:-1]]
        assert all(d.hash == decision_hash(d.to_avro()) for d in decisions)
        assert all(d.decision_id == f"{chain}#{d.sequence}" for d in decisions)


def test_seals_verify_and_link(tmp_path: Path) -> None:
    """At commit every chain that moved gets one seal of its head, signed with the router's
    key and linked to the previous seal; a chain that did not move gets none."""
    lane = Lane(Lookout, tmp_path)
    [public_key] = load_public_keys(tmp_path).values()
    previous: dict[str, str] = {}
    for partitions in ([0, 1, 0], [1]):
        heads: dict[str, PolicyDecision] = {}
        for partition in partitions:
            _, outbound = lane.route(factories.lookout(), partition)
            heads.update((d.chain, d) for d in _decisions(outbound))
        seals = lane.fanout.seals(AT)
        assert {o.topic for o in seals} == {TOPICS.decisions}
        sealed = [_read(o.value, ChainSeal) for o in seals]
        assert {s.chain: (s.sequence, s.head_hash) for s in sealed} == {
            chain: (d.sequence, d.hash) for chain, d in heads.items()
        }
        for record, seal in zip(seals, sealed, strict=True):
            assert record.key == seal.chain.encode()
            assert seal.previous_seal_hash == previous.get(seal.chain, GENESIS)
            assert verify_signature(public_key, seal_message(seal.to_avro()), seal.signature)
            previous[seal.chain] = seal.head_hash
        lane.chains.commit()
    assert lane.fanout.seals(AT) == []


def test_fail_closed_dead_letters_and_decides(tmp_path: Path) -> None:
    """An event the policy fails closed on: a deny decision for every recipient, no view, and
    the input on the dead letter with reason fail-closed."""
    [scenario] = [s for s in SCENARIOS if s.name == "unknown-marking"]
    lane = _lane(scenario, tmp_path)
    inbound, outbound = lane.route(scenario.event)
    decisions = _decisions(outbound)
    assert [(d.recipient, d.decision) for d in decisions] == [
        (r, Decision.DENY) for r in RECIPIENTS
    ]
    assert all("fail-closed" in d.rules for d in decisions)
    [dead] = [o for o in outbound if o.topic == TOPICS.dead_letter]
    assert len(outbound) == len(RECIPIENTS) + 1
    assert (dead.key, dead.value) == (inbound.key, inbound.value)
    headers = DeadLetterHeaders.decode(_headers(dead))
    assert (headers.reason, headers.source, headers.router) == (
        "fail-closed",
        str(inbound.position),
        ROUTER,
    )
    assert headers.detail


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"\x00\x00", "truncated"),
        (b"\x01" + bytes(20), "bad-magic-byte"),
        (b"\x00" + _IDS[Lookout].to_bytes(4, "big") + b"\xff\xff\xff", "undecodable"),
    ],
)
def test_rejected_input_is_only_dead_lettered(
    value: bytes | None, reason: str, tmp_path: Path
) -> None:
    """Input the contract reader rejects: one dead letter with the input, its reason, detail,
    source and router; no decision, so no chain moves and nothing is sealed."""
    lane = Lane(Lookout, tmp_path)
    inbound = lane.inbound(value)
    with pytest.raises(Rejected) as rejected:
        lane.events.read(value)
    [dead] = lane.fanout.reject(inbound, rejected.value)
    assert (dead.topic, dead.key, dead.value) == (TOPICS.dead_letter, inbound.key, value)
    assert DeadLetterHeaders.decode(_headers(dead)) == DeadLetterHeaders(
        reason, rejected.value.detail, str(inbound.position), ROUTER
    )
    assert lane.fanout.seals(AT) == []


def test_an_event_claiming_another_agency_is_dead_lettered_and_delivered_nowhere(
    tmp_path: Path,
) -> None:
    """Proven originator: the topic an event arrives on says which agency published it (only
    that agency's publisher may write there). An ICE-originated lookout arriving on CBP's
    topic, i.e. CBP's publisher claiming to be ICE, reaches no feed and no decision record:
    only the dead letter, with reason originator-mismatch naming both."""
    lane = Lane(Lookout, tmp_path)
    event = factories.lookout(event_id="claims-ice")
    claimed = event.model_copy(
        update={"originator": event.originator.model_copy(update={"agency": "ICE"})}
    )
    inbound, outbound = lane.route(claimed, agency="CBP")
    [dead] = outbound
    assert (dead.topic, dead.value) == (TOPICS.dead_letter, inbound.value)
    headers = DeadLetterHeaders.decode(_headers(dead))
    assert headers.reason == "originator-mismatch"
    assert "'ICE'" in headers.detail
    assert TOPICS.lookouts("cbp") in headers.detail
    # The same event from ICE's own publisher is routed.
    _, routed = lane.route(claimed)
    assert len(_decisions(routed)) == len(RECIPIENTS)
