"""A three-broker cluster started by the project's own stack code (``stack up --brokers 3``
under a private home and ports), and what it exists for: every topic and the brokers' own
replicated three ways with two in sync; the schema registry going away without an event
being dead-lettered or parked; and the fault suite's short version (tests/chaos; ``make
chaos`` runs the long one), which holds exactly once through a router and a broker killed
with SIGKILL, and catches a router that is only at least once.

The cluster is started once for this module (every test that needs it is here, so it starts
once); it fails, never skips, when it cannot start.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import threading
import uuid
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka.admin import ConfigResource
from confluent_kafka.schema_registry import Schema
from structlog.testing import capture_logs

from cli import main
from consumers.feed import FeedItem
from consumers.subscriber import Subscriber
from deploy.stack.cluster import NODE_PORT_STEP
from deploy.stack.local import LocalStack
from deploy.stack.ports import is_free
from intelbus import clients, serde
from intelbus.access.principals import subscriber_principal
from intelbus.errors import IntelbusError
from intelbus.headers import header_map
from intelbus.models import Lookout, OfficerSafetyAlert, Record
from intelbus.names import topic_map
from intelbus.producer import produce
from intelbus.settings import Settings
from intelbus.topic_reader import read_to_end
from intelbus.waiting import Timeout, wait_for
from producers.publisher import Outgoing, Publisher
from services.router.progress import wait_until_all_routed
from tests import factories
from tests.chaos.run import Outcome, Plan, run_chaos
from tests.conftest import KEYS_DIR, Bus
from tests.harness import _free_port, private_bus
from tests.router_helpers import running_router

BROKERS = 3
RELEASED = Path(__file__).resolve().parent.parent / "schemas" / "released" / "v1"


def _strided_port() -> int:
    """A free port whose neighbours one and two node-steps up are free too."""

    def candidate() -> int | None:
        port = _free_port()
        fits = port + (BROKERS - 1) * NODE_PORT_STEP < 65536
        return (
            port
            if fits and all(is_free(port + n * NODE_PORT_STEP) for n in range(BROKERS))
            else None
        )

    return wait_for(candidate, timeout=10, what="free ports for three nodes", interval=0)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    settings = Settings(
        home=tmp_path_factory.mktemp("cluster"),
        cache_dir=Settings().artifact_cache,  # reuse the fetched artifacts
        # Its own addresses, even where the shell points intelbus at another stack.
        bootstrap_servers_override=None,
        schema_registry_url_override=None,
        kafka_port=_strided_port(),
        controller_port=_strided_port(),
        internal_port=_strided_port(),
        registry_port=_free_port(),
        registry_management_port=_free_port(),
        kafka_heap="512m",
        keys_dir_override=KEYS_DIR,
    )
    stack = LocalStack(settings, say=lambda line: print(f"[cluster] {line}"), brokers=BROKERS)
    try:
        stack.up()
        serde.register_schemas(serde.registry_client(stack.operator), settings.schemas_dir)
    except (IntelbusError, Timeout, OSError) as error:
        stack.down()
        pytest.fail(f"the three-broker cluster did not start: {error}", pytrace=False)
    yield stack
    stack.down()


@pytest.fixture
def cluster_bus(cluster: LocalStack) -> Iterator[Bus]:
    settings = cluster.settings.model_copy(
        update={"topic_prefix": f"c{uuid.uuid4().hex[:10]}.", "stats_interval_s": 2.0}
    )
    with private_bus(settings):
        yield Bus(settings, topic_map(settings))


def test_three_voters_and_every_topic_on_three_brokers_two_in_sync(
    cluster: LocalStack, cluster_bus: Bus
) -> None:
    """The quorum has three voters (one per node); the bus's topics, consumer offsets and
    transaction state have three replicas with min.insync.replicas=2; the size is kept."""
    admin = clients.admin(cluster_bus.settings)
    metadata = admin.list_topics(timeout=30)
    assert sorted(metadata.brokers) == [1, 2, 3]
    bus_topics = [t for t in metadata.topics if t.startswith(cluster_bus.settings.topic_prefix)]
    internal = ["__consumer_offsets", "__transaction_state"]
    # A router's group and transactional producer make the brokers' own topics.
    with running_router(cluster_bus.settings):
        assert wait_for(
            lambda: set(internal) <= set(admin.list_topics(timeout=30).topics) or None,
            timeout=60,
            what="the brokers' own topics",
        )
    metadata = admin.list_topics(timeout=30)
    for topic in bus_topics + internal:
        replicas = {len(p.replicas) for p in metadata.topics[topic].partitions.values()}
        assert replicas == {3}, topic
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        config = admin.describe_configs([resource])[resource].result(30)
        assert config["min.insync.replicas"].value == "2", topic
    assert LocalStack(cluster.settings, say=lambda _: None).cluster == cluster.cluster


def test_access_apply_never_restarts_a_broker(
    cluster: LocalStack, cluster_bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`access apply` gives the local registry the current passwords and so may restart it;
    it never touches a broker. Run here as a user pointing the CLI at the cluster by its
    home and addresses alone (no port variables: this shell would render the nodes'
    configuration differently), every broker keeps running."""
    for name, value in cluster_bus.settings.as_env().items():
        monkeypatch.setenv(name, value)
    brokers = [kafka.process.pid() for kafka in cluster.nodes]
    assert main(["access", "apply"]) == 0
    try:
        assert [kafka.process.pid() for kafka in cluster.nodes] == brokers
    finally:
        cluster.up()


@dataclass(frozen=True)
class ReleasedSchema:
    """A message type's released v1 schema (still accepted: schemas/fingerprints.txt),
    registered: a schema id that a running router has not seen."""

    schema_id: int
    parsed: Any

    @classmethod
    def register(cls, settings: Settings, model: type[Record]) -> ReleasedSchema:
        text = (RELEASED / f"{model.avro_name}.avsc").read_text()
        client = serde.registry_client(settings)
        schema_id = client.register_schema(model.avro_name, Schema(text, "AVRO"))
        return cls(schema_id, fastavro.parse_schema(json.loads(text)))

    def encode(self, publisher: Publisher, record: Lookout | OfficerSafetyAlert) -> Outgoing:
        """``record`` as a publisher still on the released version writes it."""
        out = publisher.encode(record)
        buffer = io.BytesIO()
        buffer.write(b"\x00" + self.schema_id.to_bytes(4, "big"))
        fastavro.schemaless_writer(buffer, self.parsed, record.to_avro())
        return Outgoing(out.topic, out.key, buffer.getvalue(), out.event_id)


def _send(settings: Settings, batch: list[Outgoing]) -> None:
    producer = clients.producer(settings, "test-publisher")
    for outgoing in batch:
        produce(producer, outgoing.topic, outgoing.value, outgoing.key)
    assert producer.flush(60) == 0


def _cbp_feed(bus: Bus) -> set[str]:
    return {
        header_map(m)["intelbus.event-id"]
        for m in read_to_end(bus.settings, bus.topics.deliveries("cbp"))
    }


def test_registry_outage_delays_events_but_never_dead_letters_or_parks(
    cluster: LocalStack, cluster_bus: Bus
) -> None:
    """The registry stops. The router and the CBP subscriber keep working on the schemas
    they know: lookouts published during the outage are routed and handled while it lasts.
    An officer-safety alert written with a schema id the router has never seen (the released
    version, still accepted) waits: its transaction is aborted and retried, nothing is
    dead-lettered. After the outage every event published before and during it is
    delivered and handled; nothing is dead-lettered or parked."""
    settings = cluster_bus.settings
    publisher = Publisher(settings)  # knows its schema ids before the outage
    released_alert = ReleasedSchema.register(settings, OfficerSafetyAlert)
    before = [publisher.encode(factories.lookout()) for _ in range(3)]
    known = [publisher.encode(factories.lookout()) for _ in range(3)]
    now = dt.datetime.now(dt.UTC)
    alert = partial(
        factories.alert, issued_at=now, window_start=now, window_end=now + dt.timedelta(hours=2)
    )
    new = [released_alert.encode(publisher, alert()) for _ in range(3)]
    everything = {o.event_id for o in before + known + new}
    received: list[FeedItem] = []
    subscriber = Subscriber(
        settings.as_principal(subscriber_principal("cbp")), "cbp", received.append
    )
    reading = threading.Thread(target=subscriber.run)
    reading.start()

    def handled(batch: list[Outgoing]) -> bool:
        return {o.event_id for o in batch} <= {item.event_id for item in received}

    try:
        with running_router(settings), capture_logs() as logs:
            _send(settings, before)
            wait_for(lambda: handled(before), timeout=60, what="the events before the outage")
            cluster.registry.stop()
            try:
                _send(settings, known + new)
                wait_for(
                    lambda: handled(known),
                    timeout=60,
                    what="lookouts of a known schema to be handled during the outage",
                )
                wait_for(
                    lambda: any(
                        e["event"] == "router.retry" and "registry" in e["reason"] for e in logs
                    ),
                    timeout=60,
                    what="the router to retry the alert whose schema it cannot fetch",
                )
                assert cluster.registry.pid() is None
                assert not {o.event_id for o in new} & _cbp_feed(cluster_bus)
            finally:
                cluster.up()
            wait_until_all_routed(settings)
            wait_for(lambda: handled(new), timeout=120, what="the alerts after the outage")
    finally:
        subscriber.stop.set()
        reading.join(30)
    assert not list(read_to_end(settings, cluster_bus.topics.dead_letter))
    assert not list(read_to_end(settings, cluster_bus.topics.parked("cbp")))
    assert subscriber.parked == 0
    assert _cbp_feed(cluster_bus) == everything


def test_a_router_started_while_the_registry_is_away_waits_for_it(
    cluster: LocalStack, cluster_bus: Bus
) -> None:
    """A router cannot start its lanes without our schemas' ids. Started during an outage it
    says it waits, stops cleanly when told to, and otherwise routes what was published
    meanwhile once the registry is back: no traceback, no failed lane."""
    settings = cluster_bus.settings
    batch = [Publisher(settings).encode(factories.lookout()) for _ in range(2)]

    def waiting(logs: list[MutableMapping[str, Any]]) -> bool:
        return any(e["event"] == "router.registry_unavailable" for e in logs)

    cluster.registry.stop()
    try:
        with capture_logs() as logs, running_router(settings):  # stopped while it waits
            wait_for(lambda: waiting(logs), timeout=60, what="the router to wait")
        with capture_logs() as logs, running_router(settings) as router:
            wait_for(lambda: waiting(logs), timeout=60, what="the router to wait")
            _send(settings, batch)
            cluster.up()
            wait_until_all_routed(settings)
            assert not router.failures
    finally:
        cluster.up()
    assert {o.event_id for o in batch} <= _cbp_feed(cluster_bus)


def _fault_suite(cluster: LocalStack, plan: Plan, workdir: Path) -> Outcome:
    outcome = run_chaos(cluster, plan, workdir, workdir / "keys", say=print)
    print("\n".join(outcome.lines()))
    return outcome


def test_fault_suite_short_version_holds_exactly_once(cluster: LocalStack, tmp_path: Path) -> None:
    """2,000 events published one by one and routed while the router is killed with SIGKILL,
    the broker leading most inbound partitions is killed with SIGKILL and started again, and
    the CBP subscriber is killed mid-feed: every acknowledged event decided for every
    recipient once and delivered once, nothing aborted read, nothing out of order, the
    chains verify, every publisher answered."""
    plan = Plan(
        events=2000,
        rate=100,
        router_kills=1,
        broker_down_s=10,
        registry_down_s=None,
        subscriber_kill=True,
        window=(0.2, 0.6),
    )
    outcome = _fault_suite(cluster, plan, tmp_path)
    kinds = sorted(fault.what.split(" (")[0].rstrip("0123456789") for fault in outcome.log.faults)
    assert kinds == ["SIGKILL kafka-", "SIGKILL router", "SIGKILL subscriber-cbp"]
    report = outcome.report
    assert (outcome.published.acked, report.events_on_bus, report.acked) == (2000, 2000, 2000)
    assert (report.failed, report.unknown) == (0, 0)
    assert report.decisions == 2000 * report.recipients
    assert (report.lost, report.duplicated, report.aborted_reads) == (0, 0, 0)
    assert report.order_violations == report.unexplained == 0
    assert report.chains_verify, report.chain_problems[:5]
    assert not report.dead_letters
    assert report.ok


def test_fault_suite_catches_a_router_that_is_only_at_least_once(
    cluster: LocalStack, tmp_path: Path
) -> None:
    """The same suite with exactly once broken on purpose (tests/chaos/at_least_once_router:
    no transaction, offsets committed after the records): one SIGKILL of the router and the
    checker counts what its successor routed again: duplicated decisions and deliveries, out
    of order, chains that do not verify. (It may lose some too: its lifecycle state can say
    an event was routed whose deliveries never left; the successor then changes nothing.)"""
    plan = Plan(
        events=1000,
        rate=200,
        router_kills=1,
        broker_down_s=None,
        registry_down_s=None,
        subscriber_kill=False,
        # Offsets committed every 2 s, records visible at once: a kill right after the
        # router's progress moves leaves up to 2 s of events routed but not committed.
        router=(
            sys.executable,
            "-m",
            "tests.chaos.at_least_once_router",
            "--commit-interval-ms=2000",
        ),
        window=(0.3, 0.5),
    )
    report = _fault_suite(cluster, plan, tmp_path).report
    assert report.duplicate_decisions > 0
    assert report.duplicate_deliveries > 0
    assert not report.chains_verify
    assert not report.ok
