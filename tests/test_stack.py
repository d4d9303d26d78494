"""The local stack: a second, private stack (own home and ports) is started, stopped and
restarted, and keeps its data; a taken port is refused with a clear error."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.stack.local import LocalStack
from deploy.stack.ports import is_free
from intelbus import clients, serde
from intelbus.errors import IntelbusError
from intelbus.models import Lookout
from intelbus.reader import ContractReader
from intelbus.settings import Settings
from intelbus.topics import apply_topics, load_topic_map
from tests import factories
from tests.harness import _free_port
from tests.kafka_helpers import read_all, value_of


def _private_settings(home: Path, **overrides: object) -> Settings:
    ports = {
        "kafka_port": _free_port(),
        "controller_port": _free_port(),
        "internal_port": _free_port(),
        "registry_port": _free_port(),
        "registry_management_port": _free_port(),
    }
    return Settings(
        home=home,
        cache_dir=Settings().artifact_cache,  # reuse the fetched artifacts
        **(ports | overrides),  # type: ignore[arg-type]
    )


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[LocalStack]:
    stack = LocalStack(_private_settings(tmp_path / "home"), say=lambda line: None)
    try:
        yield stack
    finally:
        stack.down()


def _java_pids_of(stack: LocalStack) -> list[int]:
    """Every process whose command line carries this stack's markers."""
    markers = [p.marker.encode() for p in (stack.registry, *(k.process for k in stack.nodes))]
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(marker in cmdline for marker in markers):
            pids.append(int(entry.name))
    return pids


def test_restart_keeps_messages_and_schema_ids(private_stack: LocalStack) -> None:
    """up twice (the second a no-op), produce, down (no process left, ports free), up again:
    the same messages are read back and the same schema ids resolve."""
    settings = private_stack.settings
    assert private_stack.up() is True
    assert private_stack.up() is False

    topics = load_topic_map(settings.topics_file)
    apply_topics(clients.admin(settings), [topics.of_publisher("lookouts", "cbp")])
    client = serde.registry_client(settings)
    ids = serde.register_schemas(client, settings.schemas_dir)
    lookouts = [factories.lookout() for _ in range(5)]
    lookout_serde = serde.RecordSerializer(client, Lookout, settings.schemas_dir)
    producer = clients.producer(settings, "test")
    for record in lookouts:
        producer.produce(
            topics.lookouts("cbp"), lookout_serde.serialize(record, topics.lookouts("cbp"))
        )
    assert producer.flush(30) == 0

    assert private_stack.down() is True
    assert _java_pids_of(private_stack) == []
    for port in (
        settings.kafka_port,
        settings.internal_port,
        settings.controller_port,
        settings.registry_port,
    ):
        assert is_free(port)
    assert private_stack.down() is False

    assert private_stack.up() is True
    fresh_client = serde.registry_client(settings)  # no cached schemas
    assert {subject: fresh_client.get_latest_version(subject).schema_id for subject in ids} == ids
    messages = read_all(settings, topics.lookouts("cbp"), expected=len(lookouts))
    fresh_reader = ContractReader.connect(settings, [Lookout], fresh_client)
    read_back = [fresh_reader.read(value_of(m)).record for m in messages]
    assert sorted(read_back, key=repr) == sorted(lookouts, key=repr)


def test_taken_port_is_named_in_the_error(tmp_path: Path) -> None:
    """When the Kafka port is taken, up refuses before starting anything and names the port
    and its holder."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        stack = LocalStack(_private_settings(tmp_path, kafka_port=port), say=lambda line: None)
        with pytest.raises(
            IntelbusError, match=rf"port {port} \(Kafka broker\) is already in use by pid \d+"
        ):
            stack.up()
        assert stack.nodes[0].process.pid() is None
        assert stack.registry.pid() is None
