"""The AsyncAPI document of the bus: generated from the code, committed, and kept current."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

import cli
from intelbus.access.principals import Principals, load_principals
from intelbus.asyncapi import (
    ASYNCAPI_VERSION,
    AVRO_SCHEMA_FORMAT,
    CHANNEL_ROLES,
    DEAD_LETTER_HEADERS,
    DELIVERY_HEADERS,
    PARKED_HEADERS,
    build_document,
    render,
)
from intelbus.headers import DeadLetterHeaders, DeliveryHeaders, ParkedHeaders
from intelbus.serde import MESSAGE_TYPES, expanded_schema
from intelbus.topics import (
    APPROVER_ROLES,
    PUBLISHER_ROLES,
    RECIPIENT_ROLES,
    TOPIC_ROLES,
    TopicMap,
    load_topic_map,
)

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
SCHEMAS = ROOT / "schemas" / "avro"
# Settings that would describe another bus than the committed document does.
_ENV = (
    "INTELBUS_TOPIC_PREFIX",
    "INTELBUS_DATA_DIR",
    "INTELBUS_TOPICS_FILE",
    "INTELBUS_SCHEMAS_DIR",
    "INTELBUS_POLICIES_DIR",
)


def _topics() -> TopicMap:
    return load_topic_map(ROOT / "deploy" / "topics.yaml")


def _principals() -> Principals:
    return load_principals(ROOT / "policies")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document(_topics(), _principals(), SCHEMAS, version=version("intelbus"))


@pytest.fixture
def default_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI describes the checkout's bus, whatever the environment of the test run."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _carried(document: dict[str, Any], channel: str) -> set[str]:
    """The Avro record names a channel's messages carry."""
    names = set()
    for ref in document["channels"][channel]["messages"].values():
        payload = _resolve(document, ref["$ref"])["payload"]
        if "$ref" in payload:
            names.add(_resolve(document, payload["$ref"])["schema"]["name"])
    return names


def test_committed_document_is_current(document: dict[str, Any]) -> None:
    """docs/asyncapi.yaml is byte for byte what the generator produces from the code now."""
    assert COMMITTED.read_text() == render(document), (
        "docs/asyncapi.yaml is stale: regenerate it with "
        "`intelbus asyncapi --output docs/asyncapi.yaml`"
    )


def test_render_is_deterministic(document: dict[str, Any]) -> None:
    """Two builds render identically, and the YAML reads back as the document itself."""
    again = build_document(_topics(), _principals(), SCHEMAS, version=version("intelbus"))
    assert render(again) == render(document)
    assert yaml.safe_load(render(document)) == document


def test_document_is_asyncapi_3(document: dict[str, Any]) -> None:
    """The document declares AsyncAPI 3.0.0 and the local Kafka server, TLS only, with the
    SCRAM-SHA-512 scheme every client authenticates with."""
    assert document["asyncapi"] == ASYNCAPI_VERSION == "3.0.0"
    assert document["servers"] == {
        "local": {
            "host": "127.0.0.1:9092",
            "protocol": "kafka-secure",
            "description": document["servers"]["local"]["description"],
            "security": [{"$ref": "#/components/securitySchemes/scram"}],
        }
    }
    assert document["components"]["securitySchemes"]["scram"]["type"] == "scramSha512"


def test_a_channel_for_every_topic_role(document: dict[str, Any]) -> None:
    """Every fixed topic is a channel at its address; every per-recipient, per-publisher and
    per-approver topic is one parameterised channel whose parameter enumerates them."""
    topics, principals = _topics(), _principals()
    channels = document["channels"]
    assert sorted(CHANNEL_ROLES.values()) == sorted(
        TOPIC_ROLES + RECIPIENT_ROLES + PUBLISHER_ROLES + APPROVER_ROLES
    )
    for channel, role in CHANNEL_ROLES.items():
        address = channels[channel]["address"]
        if role in TOPIC_ROLES:
            assert address == topics.role(role).name
            assert "parameters" not in channels[channel]
            continue
        if role in RECIPIENT_ROLES:
            enum = channels[channel]["parameters"]["recipient"]["enum"]
            assert enum == sorted(principals.recipients)
            for recipient in enum:
                assert (
                    address.format(recipient=recipient) == topics.of_recipient(role, recipient).name
                )
            continue
        enum = channels[channel]["parameters"]["publisher"]["enum"]
        owners = principals.approvers if role in APPROVER_ROLES else principals.publishers
        assert enum == sorted(p.id for p in owners)
        for publisher in enum:
            assert address.format(publisher=publisher) == topics.of_publisher(role, publisher).name


def test_every_message_type_with_its_expanded_schema(document: dict[str, Any]) -> None:
    """Each record of MESSAGE_TYPES is embedded as an Avro schema equal to expanded_schema."""
    schemas = document["components"]["schemas"]
    for model in MESSAGE_TYPES:
        embedded = schemas[model.avro_name.rsplit(".", 1)[-1]]
        assert embedded["schemaFormat"] == AVRO_SCHEMA_FORMAT
        assert embedded["schema"] == json.loads(expanded_schema(SCHEMAS, model.avro_name))


def test_what_each_channel_carries(document: dict[str, Any]) -> None:
    """Inbound topics carry their record; feeds and alerts carry their event or a pointer;
    decisions carry decisions and seals; the dead letter carries raw bytes with headers."""
    assert _carried(document, "lookouts") == {"Lookout", "Withdrawal"}
    assert _carried(document, "officerSafety") == {"OfficerSafetyAlert"}
    assert _carried(document, "authorizations") == {"DisclosureAuthorization"}
    assert _carried(document, "caseOutcomes") == {"CaseOutcome"}
    assert _carried(document, "feed") == {
        "Lookout",
        "Pointer",
        "LifecycleNotice",
        "CaseOutcome",
        "HitReport",
        "HitAnswer",
        "DeconflictionNotice",
    }
    assert _carried(document, "hits") == {"HitReport", "HitAnswer"}
    assert _carried(document, "alerts") == {
        "OfficerSafetyAlert",
        "Pointer",
        "LifecycleNotice",
        "DeconflictionNotice",
    }
    assert _carried(document, "operations") == {"Operation", "DeconflictionCheck"}
    assert _carried(document, "deconflictNotices") == {"DeconflictionNotice", "DeconflictionCheck"}
    assert _carried(document, "parked") == {
        "Lookout",
        "OfficerSafetyAlert",
        "Pointer",
        "LifecycleNotice",
        "CaseOutcome",
        "HitReport",
        "HitAnswer",
        "DeconflictionNotice",
    }
    assert _carried(document, "decisions") == {"PolicyDecision", "ChainSeal", "KeyRotation"}
    every = set().union(*(_carried(document, channel) for channel in CHANNEL_ROLES))
    assert every == {model.avro_name.rsplit(".", 1)[-1] for model in MESSAGE_TYPES}
    (dead,) = document["channels"]["deadLetter"]["messages"].values()
    message = _resolve(document, dead["$ref"])
    assert message["payload"]["format"] == "binary"
    headers = _resolve(document, message["headers"]["$ref"])
    assert set(headers["properties"]) == set(DEAD_LETTER_HEADERS)


def test_deliveries_document_their_headers(document: dict[str, Any]) -> None:
    """Feed and alerts messages declare the router's delivery headers; parked ones add the
    subscriber's."""
    for channel, expected in (
        ("feed", DELIVERY_HEADERS),
        ("alerts", DELIVERY_HEADERS),
        ("parked", DELIVERY_HEADERS | PARKED_HEADERS),
    ):
        for ref in document["channels"][channel]["messages"].values():
            headers = _resolve(document, _resolve(document, ref["$ref"])["headers"]["$ref"])
            assert set(headers["properties"]) == set(expected)


def test_header_names_are_the_ones_the_code_writes() -> None:
    """Each documented set of headers is exactly what the bus's header classes encode."""
    delivery = DeliveryHeaders("e", "deliver", ("r",), (), "d", "v")
    dead_letter = DeadLetterHeaders("reason", "detail", "t/0/1", "router")
    parked = ParkedHeaders("error", 3, "t/0/1", "group")
    for documented, headers in (
        (DELIVERY_HEADERS, delivery),
        (DEAD_LETTER_HEADERS, dead_letter),
        (PARKED_HEADERS, parked),
    ):
        assert list(documented) == [name for name, _ in headers.encode()]


def test_operations_reference_their_channels(document: dict[str, Any]) -> None:
    """Publishers send to the inbound topics, the router receives them and sends to feeds,
    decisions and the dead letter, subscribers receive their feed; every reference resolves."""
    actions = {
        (op["tags"][0]["name"], op["action"], op["channel"]["$ref"].rsplit("/", 1)[-1])
        for op in document["operations"].values()
    }
    for channel in ("lookouts", "officerSafety", "authorizations", "caseOutcomes"):
        assert ("publisher", "send", channel) in actions
    for channel in ("lookouts", "officerSafety"):
        assert ("router", "receive", channel) in actions
    for channel in ("feed", "alerts", "decisions", "deadLetter"):
        assert ("router", "send", channel) in actions
    for channel in ("feed", "alerts"):
        assert ("subscriber", "receive", channel) in actions
    for operation in document["operations"].values():
        channel = operation["channel"]["$ref"]
        _resolve(document, channel)
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/")
            _resolve(document, _resolve(document, message["$ref"])["$ref"])


@pytest.mark.usefixtures("default_bus")
def test_check_passes_on_the_committed_document(capsys: pytest.CaptureFixture[str]) -> None:
    """`intelbus asyncapi --check` exits 0 when the committed document is current."""
    assert cli.main(["asyncapi", "--check"]) == 0
    assert "is current" in capsys.readouterr().out


@pytest.mark.usefixtures("default_bus")
def test_check_fails_on_a_modified_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--check` exits 1 on a document that differs, naming the file and how to regenerate."""
    stale = tmp_path / "asyncapi.yaml"
    stale.write_text(COMMITTED.read_text().replace("intel.feed.", "intel.old-feed.", 1))
    assert cli.main(["asyncapi", "--check", "--output", str(stale)]) == 1
    error = capsys.readouterr().err
    assert f"{stale} is out of date" in error
    assert f"intelbus asyncapi --output {stale}" in error


@pytest.mark.usefixtures("default_bus")
def test_output_writes_what_stdout_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--output FILE` writes the same document the bare command prints."""
    assert cli.main(["asyncapi"]) == 0
    printed = capsys.readouterr().out
    written = tmp_path / "docs" / "asyncapi.yaml"
    assert cli.main(["asyncapi", "--output", str(written)]) == 0
    assert written.read_text() == printed == COMMITTED.read_text()
