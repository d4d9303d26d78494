"""Bad input never stops the bus: each kind lands in the dead letter with its reason, and
the good events around it are routed."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable

from confluent_kafka import KafkaError, Message
from confluent_kafka.schema_registry import Schema

from intelbus import clients, serde
from intelbus.headers import header_map
from intelbus.models import CaseOutcome, Lookout, OutcomeKind
from services.router.progress import wait_until_routed
from tests import factories
from tests.avro_helpers import avro_long
from tests.conftest import Bus
from tests.kafka_helpers import read_all
from tests.router_helpers import decisions_of, running_router


def _unknown_marking_bytes(bus: Bus, lookout: Lookout) -> bytes:
    """A lookout written with a newer schema whose Marking enum has a symbol we lack."""
    client = serde.registry_client(bus.settings)
    newer = json.loads(serde.expanded_schema(bus.settings.schemas_dir, "intelbus.Lookout"))
    text = json.dumps(newer).replace('"NOFORN", "UNKNOWN"', '"NOFORN", "PROPIN", "UNKNOWN"')
    assert "PROPIN" in text
    subject = f"test-{uuid.uuid4().hex[:8]}-newer-lookout"
    schema_id = client.register_schema(subject, Schema(text, "AVRO"))
    import io  # noqa: PLC0415

    import fastavro  # noqa: PLC0415

    record = lookout.to_avro()
    record["handling"] = {**record["handling"], "markings": ["LES", "PROPIN"]}
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(json.loads(text)), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + buffer.getvalue()


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
        "fail-closed": _unknown_marking_bytes(
            bus, good(99).model_copy(update={"event_id": "newer"})
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
    assert decided == {g.event_id for g in goods} | {"newer"}
