"""Publishing: acknowledged records, all-or-nothing CLI, order per subject."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from cli import main
from cli.publish import KINDS
from intelbus import serde
from intelbus.models import (
    CaseOutcome,
    DisclosureAuthorization,
    Lookout,
    OfficerSafetyAlert,
    Operation,
    PersonIdentity,
    Record,
    Subjects,
    Withdrawal,
)
from intelbus.reader import ContractReader
from producers.publisher import Publisher, message_key
from tests import factories
from tests.conftest import Bus
from tests.kafka_helpers import read_all, value_of

EXAMPLES = Path(__file__).parent.parent / "examples"
EXAMPLE_FILES: dict[type[Record], list[Path]] = {
    Lookout: sorted((EXAMPLES / "lookouts").glob("*.json")),
    OfficerSafetyAlert: sorted((EXAMPLES / "alerts").glob("*.json")),
    DisclosureAuthorization: sorted((EXAMPLES / "authorizations").glob("*.json")),
    CaseOutcome: sorted((EXAMPLES / "outcomes").glob("*.json")),
    Withdrawal: sorted((EXAMPLES / "withdrawals").glob("*.json")),
    Operation: sorted((EXAMPLES / "operations").glob("*.json")),
}


def test_every_message_type_is_published_acknowledged_and_read_back(bus: Bus) -> None:
    """Each example of each schema is acknowledged with an offset and read back equal, on the
    topic of the agency it names (the operator publishes on each agency's behalf)."""
    publisher = Publisher(bus.settings)
    client = serde.registry_client(bus.settings)
    for model, files in EXAMPLE_FILES.items():
        assert files, f"no example of {model.__name__}"
        records = [model.model_validate(json.loads(f.read_text())) for f in files]
        deliveries = [publisher.publish(record) for record in records]
        topics = sorted({d.topic for d in deliveries})
        assert all(d.offset >= 0 for d in deliveries)
        messages = read_all(bus.settings, topics, expected=len(records))
        # Withdrawals share the lookouts' topics: read back only the records of this type.
        reader = ContractReader.connect(bus.settings, list(EXAMPLE_FILES), client)
        read = [(m.key(), reader.read(value_of(m)).record) for m in messages]
        by_key = {key: record for key, record in read if isinstance(record, model)}
        assert by_key == {message_key(r).encode(): r for r in records}


def test_cli_publishes_nothing_when_any_record_is_invalid(
    cli_env: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    """One valid line among invalid ones: every problem is reported with its line and
    field, the exit code is 1, and the topic stays empty."""
    exit_code = main(["publish", "lookout", str(EXAMPLES / "invalid" / "lookouts.ndjson")])
    err = capsys.readouterr().err
    assert exit_code == 1
    for expected in (
        "line 1: subjects.persons.0.citizenshipCountry: Value error, 'XX' is not an ISO",
        "line 2: validUntil: Value error, must be after issuedAt",
        "line 3: issuedAt: Input should have timezone info",
        "line 4: eventId: String should have at least 1 character",
        "line 4: narrative: Field required",
        "line 6: category: Input should be",
        "line 7: (json): Expecting property name",
        "6 of 7 records invalid; nothing was published",
    ):
        assert expected in err
    assert read_all(cli_env.settings, cli_env.topics.lookouts("cbp"), expected=0) == []


def test_cli_publishes_valid_ndjson_and_reports_the_count(
    cli_env: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [factories.lookout() for _ in range(25)]
    source = tmp_path / "lookouts.ndjson"
    source.write_text("".join(r.model_dump_json(by_alias=True) + "\n" for r in records))
    assert main(["publish", "lookout", str(source)]) == 0
    assert "published 25 lookout record(s)" in capsys.readouterr().out
    assert len(read_all(cli_env.settings, cli_env.topics.lookouts("cbp"), expected=25)) == 25


def test_cli_kinds_cover_every_published_message_type() -> None:
    assert set(KINDS.values()) == set(EXAMPLE_FILES)


def test_events_about_one_subject_stay_in_order(bus: Bus) -> None:
    """Versions of lookouts about the same person land on one partition, in order."""
    people = [PersonIdentity(given_name="P", sur_name=f"Subject{i}") for i in range(4)]
    publisher = Publisher(bus.settings)
    sent: list[Record] = []
    for version in range(1, 16):
        for person in people:
            record = factories.lookout(
                event_id=f"lk-{person.sur_name}",
                version=version,
                subjects=Subjects(persons=[person]),
            )
            sent.append(record)
    assert publisher.publish_batch(publisher.encode(r) for r in sent) == len(sent)

    messages = read_all(bus.settings, bus.topics.lookouts("cbp"), expected=len(sent))
    reader = ContractReader.connect(bus.settings, [Lookout])
    partitions: dict[bytes, set[int]] = defaultdict(set)
    versions: dict[bytes, list[int]] = defaultdict(list)
    for message in sorted(messages, key=lambda m: (m.partition(), m.offset())):
        key = message.key()
        assert key is not None
        partitions[key].add(message.partition() or 0)
        lookout = reader.read(value_of(message)).record
        assert isinstance(lookout, Lookout)
        versions[key].append(lookout.version)
    assert len(versions) == len(people)
    assert all(len(p) == 1 for p in partitions.values())
    assert all(v == list(range(1, 16)) for v in versions.values())
