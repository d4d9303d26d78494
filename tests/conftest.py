"""Shared fixtures: a real broker and registry for the run, and a private namespace per test."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from intelbus import serde
from intelbus.errors import IntelbusError
from intelbus.names import topic_map
from intelbus.settings import Settings
from intelbus.topics import TopicMap
from intelbus.waiting import Timeout
from tests.harness import Endpoints, private_bus, provide_endpoints

# The router's signing keys, for this test run only.
KEYS_DIR = Path(tempfile.mkdtemp(prefix="intelbus-test-keys-"))


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    """Bootstrap servers and registry URL of a real stack; fails the run if none can start."""
    try:
        with provide_endpoints() as found:
            client = serde.registry_client(_settings(found))
            serde.register_schemas(client, Settings().schemas_dir)
            yield found
    except (IntelbusError, Timeout, OSError) as error:
        pytest.fail(f"no Kafka broker and schema registry for the tests: {error}", pytrace=False)


def _settings(found: Endpoints, prefix: str = "") -> Settings:
    return Settings(
        bootstrap_servers_override=found.bootstrap_servers,
        schema_registry_url_override=found.schema_registry_url,
        topic_prefix=prefix,
        keys_dir_override=KEYS_DIR,
        stats_interval_s=2.0,
    )


@dataclass(frozen=True)
class Bus:
    """A test's own set of topics (unique prefix) on the shared broker."""

    settings: Settings
    topics: TopicMap


@pytest.fixture
def bus(endpoints: Endpoints) -> Iterator[Bus]:
    """The test's own topics and ACLs (a unique prefix), dropped afterwards."""
    settings = _settings(endpoints, prefix=f"t{uuid.uuid4().hex[:10]}.")
    with private_bus(settings):
        yield Bus(settings, topic_map(settings))


@pytest.fixture
def cli_env(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> Bus:
    """Point the in-process CLI at the test's broker, registry, topics and keys."""
    for name, value in bus.settings.as_env().items():
        monkeypatch.setenv(name, value)
    return bus


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """confluent-kafka can leave a KafkaError (not an exception) as an exception's context,
    which crashes pytest's report of the failure; drop such contexts so the failure shows."""
    error = call.excinfo.value if call.excinfo else None
    while isinstance(error, BaseException):
        if error.__context__ is not None and not isinstance(error.__context__, BaseException):
            error.__context__ = None
        error = error.__cause__ or error.__context__
    yield
