"""Kafka's own command-line tools, configured by ``intelbus access credentials --format
java``, connect as the principal and get exactly its rights: ConsoleConsumer as
subscriber-ice reads ICE's feed and is refused CBP's; ConsoleProducer as publisher-ice writes
ICE's lookouts and is refused CBP's; a wrong password or no credentials read nothing.

The tools come from the ``kafka-tools`` jar that the stack fetches with the broker's
classpath (deploy/maven/pom.xml).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import OffsetSpec

from cli import main
from deploy.stack import artifacts
from deploy.stack.artifacts import ensure_artifacts
from deploy.stack.java import find_java
from intelbus import clients
from intelbus.access.credentials import render
from intelbus.access.principals import load_principals
from intelbus.names import principal_prefix
from intelbus.settings import Settings
from tests.conftest import Bus
from tests.kafka_helpers import read_all, value_of

CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
REFUSED = "Not authorized to access topics"


@dataclass(frozen=True)
class Tools:
    java: Path
    libs: Path

    def run(self, argv: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
        """``java -cp <kafka libs>/* MAIN ARGS...`` (log lines go to stdout)."""
        return subprocess.run(
            [str(self.java), "-cp", f"{self.libs}/*", *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

    def run_together(
        self, *argvs: list[str], stdin: str = ""
    ) -> list[subprocess.CompletedProcess[str]]:
        """Several tools at once (a JVM starts in a second or two)."""
        with ThreadPoolExecutor(len(argvs)) as pool:
            return list(pool.map(lambda argv: self.run(argv, stdin), argvs))


@pytest.fixture(scope="module")
def tools() -> Tools:
    """Java and Kafka's classpath (with kafka-tools), as ``intelbus stack up`` finds them."""
    settings = Settings()
    artifacts = ensure_artifacts(
        settings.artifact_cache, settings.kafka_versions, settings.registry_versions, print
    )
    assert any(artifacts.kafka_libs.glob("kafka-tools-*.jar")), artifacts.kafka_libs
    return Tools(find_java(settings.java_home).java, artifacts.kafka_libs)


def credentials(bus: Bus, principal: str, capsys: pytest.CaptureFixture[str]) -> str:
    """``intelbus --as <operator> access credentials --for PRINCIPAL --format java``."""
    operator = load_principals(bus.settings.policies_dir).operator
    capsys.readouterr()
    code = main(["--as", operator, "access", "credentials", "--for", principal, "--format", "java"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f'username="{principal}"' in out
    return out


def private_file(path: Path, text: str) -> Path:
    """``text`` in a new file readable by its owner only (it holds a password)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    return path


def wrong_password(config: str) -> str:
    replaced, count = re.subn(r'password="[^"]*"', f'password="wrong-{uuid.uuid4().hex}"', config)
    assert count == 1, config
    return replaced


# A consumer exits after its one record or at a refusal; the idle limit only bounds one that
# gets neither. Three JVMs starting together on a loaded 2-CPU machine took over 15 s.
IDLE_MS = 60_000


def consumer_args(bus: Bus, config: Path, topic: str, group: str | None, wait_ms: int) -> list[str]:
    """ConsoleConsumer: the first record of ``topic`` from the beginning, then exit."""
    return [
        CONSUMER,
        "--bootstrap-server",
        bus.settings.bootstrap_servers,
        "--consumer.config",
        str(config),
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        "1",
        "--timeout-ms",
        str(wait_ms),
        *(["--group", group] if group else []),
    ]


def own_group(bus: Bus, principal: str) -> str:
    """A consumer group the principal may use: under its own prefix."""
    return principal_prefix(bus.settings, principal) + f"console.{uuid.uuid4().hex[:6]}"


def put_on(bus: Bus, principal: str, topic: str) -> str:
    """One record on ``topic`` written as ``principal``; returns its value."""
    value = f"record-{uuid.uuid4().hex}"
    producer = clients.producer(bus.settings.as_principal(principal), "console-test")
    producer.produce(topic, value.encode())
    assert producer.flush(30) == 0
    return value


def shown(run: subprocess.CompletedProcess[str]) -> str:
    return f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"


def test_console_consumer_reads_its_own_feed_and_is_refused_others(
    cli_env: Bus, tools: Tools, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As subscriber-ice, ConsoleConsumer prints the record on ICE's feed; on CBP's feed it
    gets TopicAuthorizationException and nothing of it; with the tool's default group (not
    under subscriber-ice's prefix) it is refused the group."""
    bus = cli_env
    config = private_file(tmp_path / "ice.properties", credentials(bus, "subscriber-ice", capsys))
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    ice_value = put_on(bus, "router", bus.topics.feed("ice"))
    cbp_value = put_on(bus, "router", bus.topics.feed("cbp"))
    group = own_group(bus, "subscriber-ice")

    own, other, default_group = tools.run_together(
        consumer_args(bus, config, bus.topics.feed("ice"), group, IDLE_MS),
        consumer_args(bus, config, bus.topics.feed("cbp"), group, IDLE_MS),
        consumer_args(bus, config, bus.topics.feed("ice"), None, IDLE_MS),
    )

    assert own.stdout.splitlines() == [ice_value], shown(own)
    assert "Processed a total of 1 messages" in own.stderr, shown(own)
    assert "TopicAuthorizationException" in other.stdout, shown(other)
    assert f"{REFUSED}: [{bus.topics.feed('cbp')}]" in other.stdout, shown(other)
    assert cbp_value not in other.stdout, shown(other)
    assert "Processed a total of 0 messages" in other.stderr, shown(other)
    assert "GroupAuthorizationException" in default_group.stdout, shown(default_group)
    assert ice_value not in default_group.stdout, shown(default_group)


def test_console_consumer_without_valid_credentials_reads_nothing(
    cli_env: Bus, tools: Tools, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a wrong password ConsoleConsumer fails authentication (SCRAM) and prints no
    record; with no credentials at all (plain PLAINTEXT against the SASL_SSL listener) it
    cannot connect and prints no record. The record is there: ICE's feed holds one."""
    bus = cli_env
    good = credentials(bus, "subscriber-ice", capsys)
    wrong = private_file(tmp_path / "wrong.properties", wrong_password(good))
    plain_config = {"bootstrap.servers": bus.settings.bootstrap_servers}
    plain = private_file(
        tmp_path / "plain.properties",
        render(plain_config | {"security.protocol": "PLAINTEXT"}, "java"),
    )
    assert "sasl" not in plain.read_text()
    value = put_on(bus, "router", bus.topics.feed("ice"))
    group = own_group(bus, "subscriber-ice")

    refused, unconnected = tools.run_together(
        consumer_args(bus, wrong, bus.topics.feed("ice"), group, IDLE_MS),
        consumer_args(bus, plain, bus.topics.feed("ice"), group, 4000),
    )

    for run in (refused, unconnected):
        assert value not in run.stdout, shown(run)
        assert run.returncode != 0 or "Processed a total of 0 messages" in run.stderr, shown(run)
    assert "SaslAuthenticationException" in refused.stdout, shown(refused)
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in refused.stdout, shown(refused)


def _ends(bus: Bus, topic: str) -> int:
    """How many records ``topic`` holds (the sum of its partitions' end offsets)."""
    admin = clients.admin(bus.settings)
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    futures = admin.list_offsets({TopicPartition(topic, p): latest for p in partitions})
    return sum(future.result(timeout=15).offset for future in futures.values())


def test_console_producer_writes_only_its_own_topics(
    cli_env: Bus, tools: Tools, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As publisher-ice, ConsoleProducer's line lands on ICE's lookouts topic; on CBP's it is
    refused (TopicAuthorizationException) and CBP's topic stays empty."""
    bus = cli_env
    config = private_file(tmp_path / "pub.properties", credentials(bus, "publisher-ice", capsys))
    line = f"line-{uuid.uuid4().hex}"

    def produce(topic: str) -> list[str]:
        return [
            PRODUCER,
            "--bootstrap-server",
            bus.settings.bootstrap_servers,
            "--producer.config",
            str(config),
            "--topic",
            topic,
        ]

    refused, written = tools.run_together(
        produce(bus.topics.lookouts("cbp")), produce(bus.topics.lookouts("ice")), stdin=line + "\n"
    )

    assert "TopicAuthorizationException" in refused.stdout, shown(refused)
    assert f"{REFUSED}: [{bus.topics.lookouts('cbp')}]" in refused.stdout, shown(refused)
    assert _ends(bus, bus.topics.lookouts("cbp")) == 0
    assert "Exception" not in written.stdout + written.stderr, shown(written)
    records = read_all(bus.settings, bus.topics.lookouts("ice"), expected=1)
    assert [value_of(m).decode() for m in records] == [line]


def test_a_cached_kafka_without_the_tools_is_fetched_again(tmp_path: Path) -> None:
    """A Kafka cache fetched before the pom brought kafka-tools (marked complete, no tools
    jar) is fetched again and replaced; a complete one is used as it is."""
    old = tmp_path / "kafka-4.1.1"
    old.mkdir()
    (old / "kafka_2.13-4.1.1.jar").write_text("broker")
    (old / ".complete").write_text("org.apache.kafka:kafka_2.13:4.1.1\n")
    fetched: list[str] = []

    def fetch(version: str, into: Path) -> None:
        fetched.append(version)
        for name in artifacts.KAFKA_REQUIRED:
            (into / name.format(version=version)).write_text("fetched")

    def ensure() -> tuple[str, Path]:
        return artifacts._ensure_one(
            "kafka",
            cache=tmp_path,
            versions=["4.1.1"],
            coordinate=artifacts.KAFKA_COORDINATE,
            required=artifacts.KAFKA_REQUIRED,
            fetch=fetch,
            say=lambda _: None,
        )

    assert ensure() == ("4.1.1", old)
    assert fetched == ["4.1.1"]
    assert (old / "kafka-tools-4.1.1.jar").read_text() == "fetched"
    assert (old / "kafka_2.13-4.1.1.jar").read_text() == "fetched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kafka-4.1.1"]  # nothing left over
    assert ensure() == ("4.1.1", old)
    assert fetched == ["4.1.1"]  # complete now: not fetched again
