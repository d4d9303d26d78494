"""A cluster of local Kafka nodes as configuration, before anything runs: its size is kept
in the home, every node gets its own id, ports and directory, all name the same voters,
the brokers' own topics and the bus's topics are replicated as the cluster's size allows,
and docker compose gets the same configuration under the containers' names."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from deploy.stack import tls
from deploy.stack.cluster import NODE_PORT_STEP, Cluster, resolve_cluster
from deploy.stack.local import LocalStack
from deploy.stack.nodes import _settings_of
from intelbus.access.principals import load_principals
from intelbus.errors import IntelbusError
from intelbus.settings import Settings
from intelbus.topics import load_topic_map, replication_on

ROOT = Path(__file__).resolve().parent.parent


def _settings(home: Path) -> Settings:
    return Settings(
        home=home,
        kafka_port=29092,
        controller_port=29093,
        internal_port=29094,
        registry_port=28081,
        registry_management_port=29081,
    )


def _config(stack: LocalStack, node: int) -> dict[str, str]:
    return _settings_of(stack.nodes[node].node.config_text())


def test_a_new_home_holds_what_it_is_asked_for_and_keeps_it(tmp_path: Path) -> None:
    """The size is kept once saved: later commands without --brokers get the same cluster,
    and asking for another size names both and how to start over."""
    assert resolve_cluster(tmp_path, None)[0].brokers == 1
    cluster, saved = resolve_cluster(tmp_path, 3)
    assert (cluster.brokers, saved, len(set(cluster.directory_ids))) == (3, False, 3)
    cluster.save(tmp_path)
    assert resolve_cluster(tmp_path, None) == (cluster, True)
    assert resolve_cluster(tmp_path, 3) == (cluster, True)
    with pytest.raises(IntelbusError, match=r"holds a 3-broker cluster, not 1: .*stack reset"):
        resolve_cluster(tmp_path, 1)


def test_a_home_from_before_clusters_holds_one_node(tmp_path: Path) -> None:
    (tmp_path / "kafka" / "data").mkdir(parents=True)
    assert resolve_cluster(tmp_path, None)[0].brokers == 1
    with pytest.raises(IntelbusError, match="holds a 1-broker cluster, not 3"):
        resolve_cluster(tmp_path, 3)


def test_an_impossible_size_is_refused() -> None:
    with pytest.raises(IntelbusError, match="--brokers must be between 1 and 5, not 7"):
        Cluster.new(7)


def test_each_node_has_its_own_id_ports_and_directory(tmp_path: Path) -> None:
    stack = LocalStack(_settings(tmp_path), say=lambda _: None, brokers=3)
    assert [k.place.name for k in stack.nodes] == ["kafka-1", "kafka-2", "kafka-3"]
    assert [k.place.kafka_port for k in stack.nodes] == [29092, 29192, 29292]
    assert NODE_PORT_STEP == 100
    assert stack.bootstrap_servers == "127.0.0.1:29092,127.0.0.1:29192,127.0.0.1:29292"
    for n, kafka in enumerate(stack.nodes):
        config = _config(stack, n)
        assert config["node.id"] == str(n + 1)
        assert config["log.dirs"] == str(tmp_path / f"kafka-{n + 1}" / "data")
        assert config["listeners"] == (
            f"CLIENT://127.0.0.1:{29092 + 100 * n},INTERNAL://127.0.0.1:{29094 + 100 * n},"
            f"CONTROLLER://127.0.0.1:{29093 + 100 * n}"
        )
        # A dynamic quorum: every node knows every controller, no static voters.
        assert config["controller.quorum.bootstrap.servers"] == (
            "127.0.0.1:29093,127.0.0.1:29193,127.0.0.1:29293"
        )
        assert "controller.quorum.voters" not in config
        assert kafka.process.marker.endswith(f"kafka-{n + 1}@{tmp_path.resolve()}")


def test_every_node_is_formatted_with_the_same_voters(tmp_path: Path) -> None:
    stack = LocalStack(_settings(tmp_path), say=lambda _: None, brokers=3)
    places = [k.place for k in stack.nodes]
    ids = stack.cluster.directory_ids
    assert stack.cluster.initial_controllers(places, ["127.0.0.1"] * 3) == (
        f"1@127.0.0.1:29093:{ids[0]},2@127.0.0.1:29193:{ids[1]},3@127.0.0.1:29293:{ids[2]}"
    )
    alone = LocalStack(_settings(tmp_path / "one"), say=lambda _: None)
    assert alone.cluster.initial_controllers([alone.nodes[0].place], ["127.0.0.1"]) is None


def test_internal_topics_are_replicated_three_ways_with_two_in_sync(tmp_path: Path) -> None:
    """Three brokers: consumer offsets and transaction state on three, two in sync; one node
    keeps one of each (what the single-node stack always had)."""
    three = _config(LocalStack(_settings(tmp_path / "3"), say=lambda _: None, brokers=3), 2)
    one = _config(LocalStack(_settings(tmp_path / "1"), say=lambda _: None), 0)
    keys = (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "default.replication.factor",
        "min.insync.replicas",
    )
    assert [three[k] for k in keys] == ["3", "3", "2", "3", "3", "2"]
    assert [one[k] for k in keys] == ["1"] * 6
    assert one["controller.quorum.bootstrap.servers"] == "127.0.0.1:29093"
    assert one["node.id"] == "1"


def test_a_config_is_current_whatever_its_comments(tmp_path: Path) -> None:
    """Only a changed setting restarts a running node: a file that differs in comments and
    spacing (an older template's wording) reads as current."""
    node = LocalStack(_settings(tmp_path), say=lambda _: None).nodes[0].node
    node.config_file.parent.mkdir(parents=True)
    reworded = "# an older wording\n" + re.sub(r"(?m)^([\w.-]+)=", r"\1 = ", node.config_text())
    node.config_file.write_text(reworded)
    assert node.config_is_current()
    node.config_file.write_text(
        reworded.replace("min.insync.replicas = 1", "min.insync.replicas=2")
    )
    assert not node.config_is_current()


def test_bus_topics_follow_the_cluster_size() -> None:
    """deploy/topics.yaml declares three replicas; a cluster holds as many as it has brokers
    (at most the declared), with min.insync.replicas one fewer, never below one."""
    assert [replication_on(b, 3) for b in (1, 2, 3, 5)] == [(1, 1), (2, 1), (3, 2), (3, 2)]
    assert replication_on(3, 3, min_insync=3) == (3, 3)
    assert replication_on(1, 3, min_insync=3) == (1, 1)
    topics = load_topic_map(Settings().topics_file)
    for spec in topics.specs(load_principals(Settings().policies_dir)):
        assert (spec.replication_factor, spec.config["min.insync.replicas"]) == (3, "2")
        one = spec.on_cluster(1)
        assert (one.replication_factor, one.config["min.insync.replicas"]) == (1, "1")
        assert spec.on_cluster(3) == spec


def test_docker_compose_gets_each_node_under_its_service_name(tmp_path: Path) -> None:
    stack = LocalStack(_settings(tmp_path), say=lambda _: None, brokers=3)
    configs = stack.init_for_docker()
    assert [c.name for c in configs] == [f"server-{n}.properties" for n in (1, 2, 3)]
    second = _settings_of(configs[1].read_text())
    assert second["controller.quorum.bootstrap.servers"] == (
        "kafka-1:29093,kafka-2:29193,kafka-3:29293"
    )
    assert second["listeners"].startswith("CLIENT://0.0.0.0:29192,")
    assert second["advertised.listeners"] == (
        "CLIENT://127.0.0.1:29192,INTERNAL://kafka-2:29194,CONTROLLER://kafka-2:29193"
    )
    assert second["log.dirs"] == "/var/lib/kafka/data"
    env = (tmp_path / "docker" / "cluster.env").read_text()
    ids = stack.cluster.directory_ids
    assert f"INTELBUS_CLUSTER_ID={stack.cluster.cluster_id}\n" in env
    assert f"INTELBUS_INITIAL_CONTROLLERS=1@kafka-1:29093:{ids[0]}," in env
    # The size is kept: the compose cluster and `stack up` agree on it.
    assert resolve_cluster(tmp_path, None) == (stack.cluster, True)


def _names(pem: Path) -> set[str]:
    certificate = x509.load_pem_x509_certificate(pem.read_bytes())
    extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return set(extension.value.get_values_for_type(x509.DNSName))


def test_the_broker_certificate_names_every_node(tmp_path: Path) -> None:
    """Made new, or found without the cluster's host names (made by an older intelbus): the
    certificate names every service, issued by the same CA the clients already trust."""
    files = tls.ensure_tls(tmp_path)
    assert {"localhost", "kafka", "kafka-1", "kafka-2", "kafka-3"} <= _names(files.broker)
    ca_before = files.ca.read_bytes()

    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate(ca_before)
    key = ec.generate_private_key(ec.SECP256R1())
    older = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "old")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime.now(dt.UTC))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("kafka")]), False)
        .sign(ca_key, hashes.SHA256())
    )
    files.broker.write_bytes(older.public_bytes(serialization.Encoding.PEM))
    tls.ensure_tls(tmp_path)
    assert "kafka-3" in _names(files.broker)
    assert files.ca.read_bytes() == ca_before
    reissued = x509.load_pem_x509_certificate(files.broker.read_bytes())
    reissued.verify_directly_issued_by(ca)


def test_the_compose_cluster_publishes_what_each_node_listens_on(tmp_path: Path) -> None:
    """docker-compose.cluster.yml (not run here: no Docker engine) mounts node n's rendered
    configuration and publishes on loopback the client port that configuration advertises,
    with the default ports."""
    defaults = Settings(home=tmp_path, kafka_port=9092, controller_port=9093, internal_port=9094)
    stack = LocalStack(defaults, say=lambda _: None, brokers=3)  # whatever this shell sets
    configs = stack.init_for_docker()
    compose = yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())
    for n, config in enumerate(configs, start=1):
        service = compose["services"][f"kafka-{n}"]
        port = _settings_of(config.read_text())["advertised.listeners"].split(",")[0]
        port = port.rsplit(":", 1)[1]
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
        mounts = {volume.split(":")[1] for volume in service["volumes"]}
        assert "/etc/intelbus/server.properties" in mounts
        assert any(
            v.endswith(f"server-{n}.properties:/etc/intelbus/server.properties:ro")
            for v in service["volumes"]
        )
