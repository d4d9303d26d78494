"""Bad input never stops the bus: each kind lands in the dead letter with its reason, and
the good events around it are routed; a registry hiccup delays an event, it is not bad input."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError, Message

from intelbus import clients, serde
from intelbus.headers import header_map
from intelbus.models import (
    AuthorizationKind,
    CaseOutcome,
    Category,
    DeclaredPurpose,
    Handling,
    Lookout,
    Marking,
    OutcomeKind,
)
from intelbus.waiting import wait_for
from producers.publisher import Publisher
from services.router.progress import (
    wait_until_all_routed,
    wait_until_authorizations_applied,
    wait_until_routed,
)
from tests import factories
from tests.avro_helpers import avro_long, framed, register_writer, schemaless
from tests.conftest import Bus
from tests.kafka_helpers import read_all
from tests.policy_fixtures import RECIPIENTS, authorization, pnr
from tests.registry_proxy import registry_proxy
from tests.router_helpers import decisions_of, running_router


def _newer_marking_bytes(bus: Bus, lookout: Lookout) -> bytes:
    """A lookout written with a newer schema whose Marking enum has a symbol we lack: a
    writer schema that is not (yet) a pinned version of the contract."""
    client = serde.registry_client(bus.settings)
    newer = json.loads(serde.expanded_schema(bus.settings.schemas_dir, "intelbus.Lookout"))
    text = json.dumps(newer).replace('"NOFORN", "UNKNOWN"', '"NOFORN", "PROPIN", "UNKNOWN"')
    assert "PROPIN" in text
    record = lookout.to_avro()
    record["handling"] = {**record["handling"], "markings": ["LES", "PROPIN"]}
    writer = json.loads(text)
    return framed(register_writer(client, writer, "newer-lookout"), schemaless(writer, record))


def _hidden_pnr(value_of: Callable[[Lookout], bytes], lookout: Lookout) -> bytes:
    """An EU PNR lookout with its ``pnr`` union index flipped to null, the PNR left behind."""
    with_pnr = value_of(lookout.model_copy(update={"pnr": pnr()}))
    without = value_of(lookout)
    return without + with_pnr[len(without) :]


def test_bad_inputs_are_dead_lettered_and_good_ones_routed(bus: Bus) -> None:
    settings = bus.settings.model_copy(update={"max_event_bytes": 64 * 1024})
    topic = bus.topics.lookouts("cbp")
    client = serde.registry_client(settings)
    lookout_serde = serde.RecordSerializer(client, Lookout, settings.schemas_dir)
    now = dt.datetime.now(dt.UTC)

    def good(n: int) -> Lookout:
        return factories.lookout(
            event_id=f"good-{n}", issued_at=now, valid_until=now + dt.timedelta(days=1)
        )

    valid = lookout_serde.serialize(good(0), topic)
    header, body = valid[:5], valid[5:]
    short_id = lookout_serde.serialize(good(0).model_copy(update={"event_id": "AAAA"}), topic)
    invalid_event = good(0).to_avro()
    invalid_event["subjects"]["persons"][0]["citizenshipCountry"] = "XX"
    outcome = CaseOutcome(
        outcome_id="o-1",
        event_id="x",
        reported_by="cbp",
        reported_at=now,
        outcome=OutcomeKind.SEIZURE,
        detail="412 kg",
    )
    vehicle = {"plate": None, "plateJurisdiction": None, "vin": None, "description": None}
    many_items = good(0).to_avro()
    many_items["subjects"]["vehicles"] = [vehicle] * 12_000
    bad: dict[str, bytes | None] = {
        "undecodable/truncated": valid[: len(valid) // 2],
        "undecodable/huge-length": header + avro_long(2**40) + b"abc",
        "bad-magic-byte": b"\x01" + valid[1:],
        "unknown-schema-id": b"\x00" + (987_654_321).to_bytes(4, "big") + body,
        "undecodable/invalid-utf8": short_id.replace(b"\x08AAAA", b"\x08\xff\xfe\xfd\xfc", 1),
        "invalid-event": lookout_serde.serialize_dict(invalid_event, topic),
        "empty": None,
        "truncated": b"\x00\x00",
        "too-large": header + b"\x00" * (70 * 1024),
        "wrong-schema": serde.RecordSerializer(client, CaseOutcome, settings.schemas_dir).serialize(
            outcome, topic
        ),
        "foreign-schema": _newer_marking_bytes(bus, good(98)),
        "trailing-bytes": _hidden_pnr(lambda e: lookout_serde.serialize(e, topic), good(97)),
        # eventId "AAAA", then version 1 (zig-zag 2) padded to two bytes
        "non-canonical": short_id.replace(b"\x08AAAA\x02", b"\x08AAAA\x82\x00", 1),
        "too-many-items": lookout_serde.serialize_dict(many_items, topic),
        "fail-closed": lookout_serde.serialize(
            good(99).model_copy(
                update={
                    "event_id": "unknown-marking",
                    "handling": Handling(markings=[Marking.LES, Marking.UNKNOWN]),
                }
            ),
            topic,
        ),
    }
    producer = clients.producer(settings, "test")
    goods = [good(n) for n in range(1, 6)]
    sources: dict[str, str] = {}

    def remember(name: str) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            assert error is None
            sources[f"{message.topic()}/{message.partition()}/{message.offset()}"] = name

        return on_delivery

    for index, (name, value) in enumerate(bad.items()):
        # Same key: everything lands on one partition, bad events between good ones.
        producer.produce(topic, value, b"k", on_delivery=remember(name))
        if index < len(goods):
            producer.produce(topic, lookout_serde.serialize(goods[index], topic), b"k")
    assert producer.flush(30) == 0

    with running_router(settings):
        wait_until_routed(settings, ("lookouts", topic))

    dead = read_all(settings, bus.topics.dead_letter, expected=len(bad))
    reasons = {}
    for message in dead:
        headers = header_map(message)
        name = sources[headers["intelbus.dlq.source"]]
        reasons[name] = headers["intelbus.dlq.reason"]
        assert headers["intelbus.dlq.detail"]
        assert message.value() == bad[name]
    assert reasons == {name: name.split("/")[0] for name in bad}

    decided = {d.event_id for d in decisions_of(settings, bus.topics.decisions)}
    assert decided == {g.event_id for g in goods} | {"unknown-marking"}


@pytest.mark.parametrize("fault", ["empty-200", "404-not-registry"])
def test_a_registry_hiccup_delays_an_event_and_dead_letters_nothing(bus: Bus, fault: str) -> None:
    """A lookout under another registry id of the contract's schema, routed while the
    registry fails its fetch (an answer without a schema, a 404 that is not the registry's):
    the lane retries, the event is decided for every recipient once the registry answers,
    and nothing goes to the dead letter."""
    topic = bus.topics.lookouts("cbp")
    client = serde.registry_client(bus.settings)
    contract = json.loads(serde.expanded_schema(bus.settings.schemas_dir, "intelbus.Lookout"))
    event = factories.lookout(event_id="after-the-hiccup")
    value = framed(register_writer(client, contract, "same"), schemaless(contract, event.to_avro()))
    producer = clients.producer(bus.settings, "test")
    producer.produce(topic, value, b"k")
    assert producer.flush(30) == 0

    with registry_proxy(bus.settings.schema_registry_url) as proxy:
        settings = bus.settings.model_copy(update={"schema_registry_url_override": proxy.url})
        proxy.fault = fault
        with running_router(settings):
            wait_for(lambda: proxy.failed >= 1, timeout=60, what="a failed schema fetch")
            proxy.heal()
            wait_until_routed(settings, ("lookouts", topic), timeout=60)

    decisions = decisions_of(bus.settings, bus.topics.decisions)
    assert sorted(d.recipient for d in decisions) == sorted(RECIPIENTS)
    assert {d.event_id for d in decisions} == {event.event_id}
    assert read_all(bus.settings, bus.topics.dead_letter, expected=0) == []


def test_an_authorization_read_during_a_registry_hiccup_is_applied_not_dropped(bus: Bus) -> None:
    """A grant under another registry id of the contract's schema arrives while the registry
    fails its fetch: before, the router logged it unreadable and dropped it (a revocation
    would have been lost the same way). Now the lane retries it, and a PNR lookout routed
    after the registry answers is disclosed to ICE under the grant."""
    now = dt.datetime.now(dt.UTC)
    grant = authorization(
        AuthorizationKind.DISCLOSURE,
        "ice",
        authorization_id="grant-after-hiccup",
        case_reference="CASE-HICCUP",
        granted_at=now,
        valid_from=now - dt.timedelta(minutes=1),
        valid_until=now + dt.timedelta(days=1),
    )
    client = serde.registry_client(bus.settings)
    contract = json.loads(
        serde.expanded_schema(bus.settings.schemas_dir, "intelbus.DisclosureAuthorization")
    )
    value = framed(register_writer(client, contract, "same"), schemaless(contract, grant.to_avro()))
    lookout = factories.lookout(
        event_id="pnr-after-hiccup",
        issued_at=now,
        valid_until=now + dt.timedelta(days=1),
        category=Category.TERRORIST_THREAT,
        declared_purpose=DeclaredPurpose.TERRORISM,
        areas=["MIP"],
        case_reference="CASE-HICCUP",
        pnr=pnr(loaded_at=now - dt.timedelta(days=1), sensitive=[]),
    )
    authorizations = bus.topics.authorizations("cbp")
    with registry_proxy(bus.settings.schema_registry_url) as proxy:
        settings = bus.settings.model_copy(update={"schema_registry_url_override": proxy.url})
        with running_router(settings):
            proxy.fault = "empty-200"
            producer = clients.producer(bus.settings, "test")
            producer.produce(authorizations, value, grant.authorization_id.encode())
            assert producer.flush(30) == 0
            wait_for(lambda: proxy.failed >= 1, timeout=60, what="a failed schema fetch")
            proxy.heal()
            wait_until_authorizations_applied(settings, authorizations)
            Publisher(bus.settings).publish(lookout)
            wait_until_all_routed(settings)

    [ice] = [d for d in decisions_of(bus.settings, bus.topics.decisions) if d.recipient == "ice"]
    assert (ice.decision.label, ice.authorization_ids) == ("deliver", [grant.authorization_id])
