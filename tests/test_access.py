"""Identity and access on the live broker: `intelbus access check | apply | rotate`, the
owner-only secret store, and refusals the broker (not a text field) makes: a publisher
writing another agency's authorizations, an event claiming another agency as originator, a
subscriber reading another recipient's feed."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from cli import main
from intelbus import clients, serde
from intelbus.access.broker import inspect_access
from intelbus.access.principals import load_principals
from intelbus.headers import DeadLetterHeaders, DeliveryHeaders, header_map
from intelbus.models import Lookout
from intelbus.secrets import SecretStore, UnsafeSecrets
from intelbus.settings import Settings
from intelbus.waiting import wait_for
from intelbus.yamlfile import YamlError
from producers.publisher import Publisher
from services.router.progress import wait_until_all_routed
from tests import factories
from tests.conftest import Bus
from tests.kafka_helpers import read_all, value_of
from tests.router_helpers import decisions_of, running_router

_ACL_TIMEOUT_S = 30


def _drift(bus: Bus) -> list[str]:
    principals = load_principals(bus.settings.policies_dir)
    return inspect_access(clients.admin(bus.settings), bus.settings, bus.topics, principals).drift


def _stray_acl(bus: Bus) -> AclBinding:
    """The kind of hand-made ACL the data never grants: ICE's subscriber reading CBP's feed."""
    return AclBinding(
        ResourceType.TOPIC,
        bus.topics.feed("cbp"),
        ResourcePatternType.LITERAL,
        "User:subscriber-ice",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )


def _add_by_hand(admin: AdminClient, binding: AclBinding) -> None:
    for future in admin.create_acls([binding]).values():
        future.result(timeout=_ACL_TIMEOUT_S)


def _filter(binding: AclBinding) -> AclBindingFilter:
    return AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )


def _described(admin: AdminClient, binding: AclBinding) -> bool:
    found = admin.describe_acls(_filter(binding), request_timeout=10).result(timeout=15)
    return bool(found)


def test_check_finds_a_hand_made_acl_and_apply_removes_it(
    cli_env: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    """`access check` exits 0 on a bus whose ACLs match the data; after an ACL is added by
    hand (ICE's subscriber may read CBP's feed) it exits 1 naming it; `access apply` removes
    it, and check is 0 again."""
    bus = cli_env
    assert main(["access", "check"]) == 0
    assert "access matches policies/" in capsys.readouterr().out

    admin = clients.admin(bus.settings)
    stray = _stray_acl(bus)
    _add_by_hand(admin, stray)
    wait_for(lambda: _described(admin, stray), timeout=_ACL_TIMEOUT_S, what="the stray ACL")
    assert main(["access", "check"]) == 1
    out = capsys.readouterr().out
    extra = [line for line in out.splitlines() if line.startswith("extra ACL:")]
    assert len(extra) == 1, out
    assert "User:subscriber-ice" in extra[0]
    assert "read" in extra[0]
    assert repr(bus.topics.feed("cbp")) in extra[0]
    assert "1 difference(s)" in out

    assert main(["access", "apply"]) == 0
    out = capsys.readouterr().out
    assert f"removed: allow User:subscriber-ice read topic {bus.topics.feed('cbp')!r}" in out
    wait_for(lambda: not _described(admin, stray), timeout=_ACL_TIMEOUT_S, what="the removal")
    assert main(["access", "check"]) == 0
    assert "access matches policies/" in capsys.readouterr().out


def test_check_right_after_apply_sees_what_apply_did(
    cli_env: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    """`access apply` returns once the broker enforces what it changed: right after it
    restores an ACL removed by hand (ICE's subscriber reading its own feed), `access check`
    finds no difference and the subscriber can read its feed."""
    bus = cli_env
    admin = clients.admin(bus.settings)
    planned = AclBinding(
        ResourceType.TOPIC,
        bus.topics.feed("ice"),
        ResourcePatternType.LITERAL,
        "User:subscriber-ice",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    assert _described(admin, planned)
    for future in admin.delete_acls([_filter(planned)]).values():
        future.result(timeout=_ACL_TIMEOUT_S)
    wait_for(lambda: not _described(admin, planned), timeout=_ACL_TIMEOUT_S, what="removal")
    subscriber = clients.consumer(bus.settings.as_principal("subscriber-ice"), "unused", "t")
    topic = bus.topics.feed("ice")

    assert main(["access", "apply"]) == 0
    applied = capsys.readouterr().out
    assert "granted: allow User:subscriber-ice read topic" in applied
    assert main(["access", "check"]) == 0, applied + capsys.readouterr().out
    assert subscriber.list_topics(topic, timeout=10).topics[topic].error is None
    subscriber.close()


def _with_password(settings: Settings, home: Path, principal: str, password: str) -> Settings:
    """``settings`` as ``principal`` with ``password`` in a secret store of its own."""
    secrets = home / "secrets"
    secrets.mkdir(mode=0o700)
    descriptor = os.open(secrets / f"{principal}.password", os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(password + "\n")
    return settings.model_copy(
        update={"home": home, "ca_file_override": settings.ca_file, "principal_override": principal}
    )


def _login_failures(settings: Settings) -> list[KafkaError]:
    """The errors a client of ``settings`` reports while asking for metadata (none: it
    logged in and got the metadata)."""
    errors: list[KafkaError] = []
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "error_cb": errors.append,
        "logger": clients.LIBRDKAFKA_LOG,
    }
    probe = AdminClient(config | clients.security(settings))
    try:
        probe.list_topics(timeout=5)
    except KafkaException as exception:
        errors.append(exception.args[0])
    probe.poll(0)  # the error callbacks are served here
    return errors


def test_rotate_replaces_the_password(
    cli_env: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`access rotate subscriber-ice`: the old password no longer authenticates (SCRAM
    failure), the new one (in the store) does."""
    bus = cli_env
    store = SecretStore(bus.settings.secrets_dir)
    old = store.password("subscriber-ice")
    old_settings = _with_password(bus.settings, tmp_path, "subscriber-ice", old)
    assert _login_failures(old_settings) == []  # the old password worked until now

    assert main(["access", "rotate", "subscriber-ice"]) == 0
    assert "new password for subscriber-ice" in capsys.readouterr().out
    new = store.password("subscriber-ice")
    assert new != old

    failures = _login_failures(old_settings)
    assert any(f.code() == KafkaError._AUTHENTICATION for f in failures), failures
    assert "invalid credentials" in str(failures)
    assert _login_failures(bus.settings.as_principal("subscriber-ice")) == []


def test_authentication_failure_names_a_wrong_password(bus: Bus, tmp_path: Path) -> None:
    """``clients.authentication_failure`` (what the CLI says when Kafka fails) recognizes a
    wrong password, and says nothing for a right one."""
    wrong = _with_password(bus.settings, tmp_path, "subscriber-ice", f"wrong-{uuid.uuid4()}")
    message = clients.authentication_failure(wrong)
    assert message is not None
    assert "authentication as subscriber-ice failed" in message
    assert clients.authentication_failure(bus.settings.as_principal("subscriber-ice")) is None


def _private_store(tmp_path: Path) -> SecretStore:
    store = SecretStore(tmp_path / "secrets")
    store.create("subscriber-ice")
    return store


def test_loose_permissions_are_refused(tmp_path: Path) -> None:
    """A secrets directory others may read (0755), or a password file others may read
    (0644), is refused with UnsafeSecrets, never used; owner-only (0700/0600) is fine."""
    store = _private_store(tmp_path)
    password = store.password("subscriber-ice")
    assert password

    store.directory.chmod(0o755)
    with pytest.raises(UnsafeSecrets, match="0755"):
        store.password("subscriber-ice")
    store.directory.chmod(0o700)
    assert store.password("subscriber-ice") == password

    (store.directory / "subscriber-ice.password").chmod(0o644)
    with pytest.raises(UnsafeSecrets, match="0644"):
        store.password("subscriber-ice")
    (store.directory / "subscriber-ice.password").chmod(0o600)
    assert store.password("subscriber-ice") == password


def _produce_one(settings: Settings, topic: str) -> KafkaError | None:
    """Produce one record as ``settings.principal``; the delivery report's error."""
    reports: list[KafkaError | None] = []

    def report(error: KafkaError | None, _: Message) -> None:
        reports.append(error)

    producer = clients.producer(settings, "test-access")
    producer.produce(topic, b"not an authorization", key=b"grant-1", on_delivery=report)
    assert producer.flush(30) == 0
    assert len(reports) == 1
    return reports[0]


def test_only_the_approver_may_publish_authorizations(cli_env: Bus) -> None:
    """The broker refuses ICE's publisher writing CBP's authorizations topic
    (TOPIC_AUTHORIZATION_FAILED): nobody but the approving agency can grant a disclosure;
    CBP's publisher may."""
    bus = cli_env
    topic = bus.topics.authorizations("cbp")
    refused = _produce_one(bus.settings.as_principal("publisher-ice"), topic)
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert _produce_one(bus.settings.as_principal("publisher-cbp"), topic) is None
    assert len(read_all(bus.settings, topic, expected=1)) == 1  # only CBP's record


def test_an_event_claiming_another_agency_is_dead_lettered(cli_env: Bus) -> None:
    """A lookout saying originator CBP, published by ICE's publisher (so on ICE's topic), is
    dead-lettered as originator-mismatch: no feed gets it and no decision names it. The
    same lookout from CBP's publisher is routed normally."""
    bus = cli_env
    now = dt.datetime.now(dt.UTC)
    lookout: Lookout = factories.lookout(issued_at=now, valid_until=now + dt.timedelta(days=1))
    assert lookout.originator.agency == "CBP"
    feeds = [
        topic
        for recipient in load_principals(bus.settings.policies_dir).recipients
        for topic in bus.topics.deliveries(recipient)
    ]

    with running_router(bus.settings):
        Publisher(bus.settings.as_principal("publisher-ice")).publish(lookout)
        wait_until_all_routed(bus.settings)

        dead = read_all(bus.settings, bus.topics.dead_letter, expected=1)
        assert len(dead) == 1
        headers = DeadLetterHeaders.decode(header_map(dead[0]))
        assert headers.reason == "originator-mismatch"
        assert lookout.event_id in headers.detail
        assert headers.source.startswith(bus.topics.lookouts("ice"))
        assert read_all(bus.settings, feeds, expected=0) == []
        assert not [
            d
            for d in decisions_of(bus.settings, bus.topics.decisions)
            if d.event_id == lookout.event_id
        ]

        Publisher(bus.settings.as_principal("publisher-cbp")).publish(lookout)
        wait_until_all_routed(bus.settings)

    delivered = read_all(bus.settings, bus.topics.feed("cbp"), expected=1)
    assert [DeliveryHeaders.decode(header_map(m)).event_id for m in delivered] == [lookout.event_id]
    assert all(value_of(m) for m in delivered)
    decisions = [
        d
        for d in decisions_of(bus.settings, bus.topics.decisions)
        if d.event_id == lookout.event_id
    ]
    recipients = load_principals(bus.settings.policies_dir).recipients
    assert sorted(d.recipient for d in decisions) == sorted(recipients)
    assert len(read_all(bus.settings, bus.topics.dead_letter, expected=1)) == 1


def test_a_subscriber_is_refused_another_recipients_feed(
    cli_env: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    """`intelbus --as subscriber-ice subscribe --as cbp` exits 1 saying subscriber-ice is
    not authorized to read CBP's feed (no traceback)."""
    bus = cli_env
    capsys.readouterr()
    assert main(["--as", "subscriber-ice", "subscribe", "--as", "cbp"]) == 1
    captured = capsys.readouterr()
    message = captured.err
    assert "not authorized to read" in message
    assert bus.topics.feed("cbp") in message
    assert "subscriber-ice" in message
    assert "Traceback" not in captured.out + captured.err


def test_a_subscriber_reads_its_own_feed(cli_env: Bus, capsys: pytest.CaptureFixture[str]) -> None:
    """`intelbus --as subscriber-ice subscribe --as ice`, with --from-beginning and without
    (committing its progress in a consumer group it may use), prints the lookout on ICE's
    feed without a refusal."""
    bus = cli_env
    lookout = factories.lookout()
    topic = bus.topics.feed("ice")
    writer = serde.RecordSerializer(
        serde.registry_client(bus.settings), Lookout, bus.settings.schemas_dir
    )
    delivery = DeliveryHeaders(lookout.event_id, "deliver", ("dhs-need-to-know",), (), "d-1", "v")
    producer = clients.producer(bus.settings.as_principal("router"), "test-access")
    producer.produce(topic, writer.serialize(lookout, topic), b"k", headers=delivery.encode())
    assert producer.flush(30) == 0
    capsys.readouterr()

    as_ice = ["--as", "subscriber-ice", "subscribe", "--as", "ice"]
    assert main([*as_ice, "--from-beginning"]) == 0, capsys.readouterr().err
    assert lookout.event_id in capsys.readouterr().out
    assert main(as_ice) == 0, capsys.readouterr().err
    assert lookout.event_id in capsys.readouterr().out


def test_a_repeated_publisher_is_refused_naming_its_line(tmp_path: Path) -> None:
    """Each agency has exactly one publisher (its topics prove its events' originator): a
    second entry with the same id is an error naming the file, its line and the field."""
    policies = tmp_path / "policies"
    shutil.copytree(Settings().policies_dir, policies)
    path = policies / "principals.yaml"
    path.write_text(path.read_text().replace("  - id: fbi", "  - id: ice"))
    with pytest.raises(
        YamlError, match=r"principals\.yaml:\d+: publishers\.2\.id: 'ice' is repeated"
    ):
        load_principals(policies)
