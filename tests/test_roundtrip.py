"""An Avro event crosses the real broker and registry and comes back equal."""

from __future__ import annotations

from intelbus import clients, serde
from intelbus.models import Lookout, OfficerSafetyAlert
from intelbus.reader import ContractReader
from tests import factories
from tests.conftest import Bus
from tests.kafka_helpers import read_all, value_of


def test_lookout_and_alert_round_trip_through_broker_and_registry(bus: Bus) -> None:
    """Records serialized with the registry's Avro serializer are read back identical,
    framed in the Confluent wire format with the registered schema's id."""
    client = serde.registry_client(bus.settings)
    lookout = factories.lookout()
    alert = factories.alert()
    producer = clients.producer(bus.settings, "test")
    for record, model, topic in (
        (lookout, Lookout, bus.topics.lookouts("cbp")),
        (alert, OfficerSafetyAlert, bus.topics.officer_safety("cbp")),
    ):
        writer = serde.RecordSerializer(client, model, bus.settings.schemas_dir)
        data = writer.serialize(record, topic)
        producer.produce(topic, data)
    assert producer.flush(30) == 0

    for record, model, topic in (
        (lookout, Lookout, bus.topics.lookouts("cbp")),
        (alert, OfficerSafetyAlert, bus.topics.officer_safety("cbp")),
    ):
        [message] = read_all(bus.settings, topic, expected=1)
        value = value_of(message)
        assert value[0] == 0  # Confluent magic byte
        schema_id = int.from_bytes(value[1:5], "big")
        assert schema_id == client.get_latest_version(model.avro_name).schema_id
        back = ContractReader.connect(bus.settings, [model], client).read(value).record
        assert back == record
