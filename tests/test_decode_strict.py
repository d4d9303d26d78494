"""Only the contract is decoded: untrusted bytes are accepted only when written with a
pinned version of the project's own schemas, in their one canonical encoding, within
bounds checked before anything is decoded; a registry hiccup is never bad input."""

from __future__ import annotations

import json
import shutil
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

from cli import main
from consumers.feed import FeedItem
from consumers.subscriber import Subscriber
from intelbus import clients, contract, serde
from intelbus.canonical import MAX_ITEMS, Malformed, UnsupportedSchema, compile_check
from intelbus.errors import IntelbusError
from intelbus.headers import DeliveryHeaders
from intelbus.keydir import mint_signer
from intelbus.models import (
    ChainSeal,
    LifecycleNotice,
    Lookout,
    OfficerSafetyAlert,
    Pointer,
    PolicyDecision,
)
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import PolicyEngine
from intelbus.position import Position
from intelbus.reader import REASONS, ContractReader, Rejected
from intelbus.serde import RegistryUnavailable
from intelbus.settings import Settings
from intelbus.waiting import wait_for
from services.router.decisions import ChainBook
from services.router.fanout import Fanout, FanoutTopics, Inbound
from services.router.serdes import Codecs
from tests import factories
from tests.avro_helpers import avro_long, avro_string, framed, register_writer, schemaless
from tests.conftest import Bus
from tests.decode_fuzz import Worker, fuzz
from tests.generate import alerts, lookouts
from tests.policy_fixtures import AT, POLICY, pnr
from tests.registry_proxy import FAULTS, registry_proxy

MIB = 1024 * 1024
SCHEMAS = Settings().schemas_dir


def _contract(settings: Settings, name: str = "intelbus.Lookout") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(serde.expanded_schema(settings.schemas_dir, name))
    return loaded


def _codec(settings: Settings, model: type[Lookout] | type[OfficerSafetyAlert]) -> serde.FastCodec:
    return serde.FastCodec.registered(serde.registry_client(settings), model, settings.schemas_dir)


def _reason(reader: ContractReader, value: bytes) -> str:
    with pytest.raises(Rejected) as rejected:
        reader.read(value)
    return rejected.value.reason


# -- foreign writer schemas -----------------------------------------------------------------


def test_a_writer_schema_with_extra_fields_is_refused(bus: Bus) -> None:
    """A lookout written with the contract plus a field of its own: before, the reader
    resolved it (dropping the field) and a whole delivery forwarded the bytes, field and all."""
    contract = _contract(bus.settings)
    writer = {**contract, "fields": [*contract["fields"], {"name": "smuggled", "type": "string"}]}
    client = serde.registry_client(bus.settings)
    schema_id = register_writer(client, writer, "smuggler")
    datum = factories.lookout().to_avro() | {"smuggled": "for the feeds"}
    reader = ContractReader.connect(bus.settings, [Lookout])
    assert _reason(reader, framed(schema_id, schemaless(writer, datum))) == "foreign-schema"


def _recursive(record: str) -> dict[str, Any]:
    namespace, name = record.rsplit(".", 1)
    return {
        "type": "record",
        "name": name,
        "namespace": namespace,
        "fields": [{"name": "next", "type": ["null", record]}, {"name": "x", "type": "long"}],
    }


@pytest.mark.parametrize(
    ("readers", "record", "depth"),
    [
        ("router", "intelbus.Lookout", 20_000),
        ("feed", "intelbus.Pointer", 50_000),
        ("audit", "intelbus.PolicyDecision", 50_000),
    ],
)
def test_a_recursive_writer_schema_cannot_crash_a_reader(
    bus: Bus, readers: str, record: str, depth: int
) -> None:
    """A recursive schema under a contract record's name and a deeply nested message: before,
    fastavro overflowed the stack (SIGSEGV) in the router, the subscribers and the audit
    tool. It is refused by fingerprint before anything is decoded."""
    schema_id = register_writer(serde.registry_client(bus.settings), _recursive(record), "rec")
    value = framed(schema_id, b"\x02" * depth + b"\x00" * (depth + 2))
    with Worker(bus.settings, readers, hang_s=30) as worker:
        outcome = worker.read(0, value)
    assert (outcome.kind, outcome.reason) == ("rejected", "foreign-schema"), outcome


def test_a_huge_count_of_empty_items_is_refused_at_once(bus: Bus) -> None:
    """An array of null declaring 2^62 items in a 224-byte message: before, it decoded for
    ever. It is refused by fingerprint, well within a second."""
    writer = {
        "type": "record",
        "name": "Lookout",
        "namespace": "intelbus",
        "fields": [{"name": "items", "type": {"type": "array", "items": "null"}}],
    }
    schema_id = register_writer(serde.registry_client(bus.settings), writer, "nulls")
    payload = avro_long(2**62) + bytes(224 - 5 - len(avro_long(2**62)))
    with Worker(bus.settings, hang_s=10) as worker:
        outcome = worker.read(0, framed(schema_id, payload))
    assert (outcome.kind, outcome.reason) == ("rejected", "foreign-schema"), outcome
    assert outcome.seconds < 1.0


# -- the one canonical encoding -------------------------------------------------------------


def test_a_pnr_hidden_behind_a_null_union_branch_is_refused(bus: Bus) -> None:
    """An EU PNR lookout whose ``pnr`` union index is flipped to null, the PNR (names, a
    health item) left behind as trailing bytes: before, it was accepted as "no PNR" and a
    whole delivery carried the PNR to third parties."""
    codec = _codec(bus.settings, Lookout)
    event = factories.lookout(pnr=pnr())
    with_pnr = codec.encode(event.to_avro())
    without = codec.encode(event.model_copy(update={"pnr": None}).to_avro())
    # The PNR is the last field: the same bytes up to its union index (2: a PnrExtract).
    assert (with_pnr[: len(without) - 1], with_pnr[len(without) - 1]) == (without[:-1], 2)
    hidden = without + with_pnr[len(without) :]
    reader = ContractReader.connect(bus.settings, [Lookout])
    assert _reason(reader, hidden) == "trailing-bytes"


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, f"{old!r} is not unique in the message"
    return data.replace(old, new)


@pytest.mark.parametrize(
    ("what", "old", "new"),
    [
        # version 1 (zig-zag 2) in two bytes instead of one
        ("padded-varint", b"\x08AAAA\x02", b"\x08AAAA\x82\x00"),
        # areas ["ZQA", "ZQB"] in two blocks of one
        ("array-in-two-blocks", b"\x04\x06ZQA\x06ZQB\x00", b"\x02\x06ZQA\x02\x06ZQB\x00"),
        # the same block with a negative count and its byte size (-2 items, 8 bytes)
        ("negative-block-count", b"\x04\x06ZQA\x06ZQB\x00", b"\x03\x10\x06ZQA\x06ZQB\x00"),
    ],
)
def test_non_canonical_encodings_of_a_lookout_are_refused(
    bus: Bus, what: str, old: bytes, new: bytes
) -> None:
    """Each decodes to the same lookout as the canonical bytes, so re-encoding could not
    reproduce them: before, they were accepted and forwarded as they came."""
    codec = _codec(bus.settings, Lookout)
    event = factories.lookout(event_id="AAAA", areas=["ZQA", "ZQB"])
    value = codec.encode(event.to_avro())
    reader = ContractReader.connect(bus.settings, [Lookout])
    assert reader.read(value).record == event
    assert _reason(reader, _replace_once(value, old, new)) == "non-canonical", what


def test_a_boolean_other_than_0_or_1_is_refused(bus: Bus) -> None:
    """``armedAndDangerous`` written as 2: fastavro reads any non-zero byte as true."""
    codec = _codec(bus.settings, OfficerSafetyAlert)
    alert = factories.alert(armed_and_dangerous=True, narrative="NARRATIVE-XYZ")
    value = codec.encode(alert.to_avro())
    narrative = avro_string("NARRATIVE-XYZ")
    crafted = _replace_once(value, b"\x01" + narrative, b"\x02" + narrative)
    reader = ContractReader.connect(bus.settings, [OfficerSafetyAlert])
    assert reader.read(value).record == alert
    assert _reason(reader, crafted) == "non-canonical"


# -- bounds -----------------------------------------------------------------------------------


def test_many_tiny_items_are_refused_before_they_are_decoded(bus: Bus) -> None:
    """200,000 vehicles of four nulls (4 bytes each, under the 1 MiB limit): before, they
    were all decoded (+350 MB and 1.5 s at 1 MiB) only to be rejected. Now the item count
    is checked before fastavro allocates anything."""
    codec = _codec(bus.settings, Lookout)
    datum = factories.lookout().to_avro()
    vehicle = {"plate": None, "plateJurisdiction": None, "vin": None, "description": None}
    datum["subjects"]["vehicles"] = [vehicle] * 200_000
    value = codec.encode(datum)
    assert len(value) < bus.settings.max_event_bytes
    reader = ContractReader.connect(bus.settings, [Lookout])
    tracemalloc.start()
    try:
        reason = _reason(reader, value)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reason == "too-many-items"
    assert peak < 4 * MIB, f"{peak / MIB:.0f} MiB allocated to reject it"


# -- registry hiccups ---------------------------------------------------------------------------


def _under_another_id(settings: Settings, event: Lookout) -> bytes:
    """``event`` framed with another registry id of the contract's own Lookout schema (the
    same schema as text of another shape), so reading it needs a fetch from the registry."""
    schema_id = register_writer(serde.registry_client(settings), _contract(settings), "same")
    own = _codec(settings, Lookout)
    assert schema_id != own.schema_id
    return framed(schema_id, own.encode(event.to_avro())[serde.CONFLUENT_HEADER :])


@pytest.mark.parametrize("fault", FAULTS)
def test_a_registry_hiccup_is_not_bad_input(bus: Bus, fault: str) -> None:
    """While the registry fails a schema fetch (503, dropped connection, an answer without a
    schema, a 404 that is not the registry's "not found"), reading raises RegistryUnavailable
    (callers retry); once it answers again, the same reader reads the event."""
    event = factories.lookout()
    value = _under_another_id(bus.settings, event)
    with registry_proxy(bus.settings.schema_registry_url) as proxy:
        settings = bus.settings.model_copy(update={"schema_registry_url_override": proxy.url})
        reader = ContractReader.connect(settings, [Lookout])
        proxy.fault = fault
        with pytest.raises(RegistryUnavailable):
            reader.read(value)
        assert proxy.failed >= 1
        proxy.heal()
        assert reader.read(value).record == event


def test_a_registry_hiccup_does_not_park_a_delivery(bus: Bus) -> None:
    """A subscriber whose registry fails the schema fetch of a delivery waits for it: the
    delivery is handled once the registry answers, and nothing is parked as bad data."""
    event = factories.lookout()
    topic = bus.topics.feed("cbp")
    headers = DeliveryHeaders(event.event_id, "deliver", ("dhs-need-to-know",), (), "d-1", "p")
    producer = clients.producer(bus.settings, "test")
    producer.produce(topic, _under_another_id(bus.settings, event), headers=headers.encode())
    assert producer.flush(30) == 0
    handled: list[FeedItem] = []
    with registry_proxy(bus.settings.schema_registry_url) as proxy:
        settings = bus.settings.model_copy(update={"schema_registry_url_override": proxy.url})
        subscriber = Subscriber(settings, "cbp", handled.append, max_attempts=1, backoff_s=0.1)
        proxy.fault = "503"
        thread = threading.Thread(target=subscriber.run, daemon=True)
        thread.start()
        try:
            # One fetch is four requests (confluent-kafka retries three times): healing
            # sooner would hide the outage from the subscriber.
            wait_for(lambda: proxy.failed >= 4, timeout=60, what="a failed schema fetch")
            proxy.heal()
            wait_for(lambda: handled or subscriber.parked, timeout=60, what="the delivery")
        finally:
            subscriber.stop.set()
            thread.join(60)
    assert subscriber.parked == 0
    assert [item.record for item in handled] == [event]


# -- the pinned versions ----------------------------------------------------------------------


def _pins(text: str) -> set[tuple[str, ...]]:
    return {tuple(words) for line in text.splitlines() if (words := line.split("#")[0].split())}


def test_the_fingerprints_file_pins_the_current_schemas_and_every_release(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """schemas/fingerprints.txt pins each message type of schemas/avro and of every
    schemas/released/v*/ by the SHA-256 of its Parsing Canonical Form (computed here with
    fastavro's own fingerprint); `intelbus schemas fingerprints` prints exactly the file."""
    texts = [serde.expanded_schema(SCHEMAS, model.avro_name) for model in serde.MESSAGE_TYPES]
    texts += [path.read_text() for path in SCHEMAS.parent.glob("released/v*/*.avsc")]
    expected = set()
    for text in texts:
        schema: Any = fastavro.parse_schema(json.loads(text))
        expected.add((schema["name"], fingerprint(to_parsing_canonical_form(schema), "SHA-256")))
    pinned = (SCHEMAS.parent / contract.FINGERPRINTS_FILE).read_text()
    assert _pins(pinned) == expected, (
        "schemas/fingerprints.txt is out of date: run `intelbus schemas fingerprints --write` "
        "and review the diff"
    )
    assert main(["schemas", "fingerprints"]) == 0
    assert capsys.readouterr().out == pinned


def _contract_copy(into: Path, released: dict[str, dict[str, Any]]) -> Path:
    """schemas/avro copied under ``into``, with ``released`` as release v0 and the
    fingerprints file written for them; returns the copy's schemas/avro."""
    avro = into / "schemas" / "avro"
    shutil.copytree(SCHEMAS, avro)
    for name, schema in released.items():
        path = into / "schemas" / "released" / "v0" / f"{name}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema))
    (avro.parent / contract.FINGERPRINTS_FILE).write_text(contract.render(contract.versions(avro)))
    return avro


def test_a_pin_without_its_text_or_a_missing_file_stops_the_reader(tmp_path: Path) -> None:
    """Readers cannot decode a pinned version whose text is gone, nor know what to accept
    without the file: loading says where and what to run."""
    avro = _contract_copy(tmp_path / "a", {})
    pins = avro.parent / contract.FINGERPRINTS_FILE
    pins.write_text(pins.read_text() + "intelbus.Lookout " + "0" * 64 + "\n")
    with pytest.raises(IntelbusError, match=rf"{pins}:\d+: .* names no version of the contract"):
        contract.load_contract(avro)
    bare = _contract_copy(tmp_path / "b", {})
    (bare.parent / contract.FINGERPRINTS_FILE).unlink()
    with pytest.raises(IntelbusError, match="intelbus schemas fingerprints --write"):
        contract.load_contract(bare)


def test_an_earlier_version_is_read_and_delivered_re_encoded(bus: Bus, tmp_path: Path) -> None:
    """A lookout written with a released earlier version (without ``caseReference``) is
    decoded with the repository's text of that version, and what goes to a feed whole is
    the decoded event re-encoded with the current schema, not the bytes that came in."""
    current = _contract(bus.settings)
    earlier = {**current, "fields": [f for f in current["fields"] if f["name"] != "caseReference"]}
    avro = _contract_copy(tmp_path, {"intelbus.Lookout": earlier})
    settings = bus.settings.model_copy(update={"schemas_dir_override": avro})
    event = factories.lookout(event_id="written-with-v0")
    datum = {k: v for k, v in event.to_avro().items() if k != "caseReference"}
    client = serde.registry_client(settings)
    value = framed(register_writer(client, earlier, "v0"), schemaless(earlier, datum))
    reader = ContractReader.connect(settings, [Lookout])
    decoded = reader.read(value)
    assert decoded.record == event
    assert decoded.wire == reader.codec(Lookout).encode(decoded.fields) != value

    def codec(model: type[Any], schema_id: int) -> serde.FastCodec:
        return serde.FastCodec(model, avro, schema_id)

    topic = bus.topics.lookouts("cbp")
    chains = ChainBook(mint_signer(tmp_path / "keys"), POLICY.version)
    chains.restore(topic, 0, None, 0)
    fanout = Fanout(
        PolicyEngine(POLICY, AuthorizationBook()),
        chains,
        FanoutTopics(
            {r: bus.topics.feed(r) for r in POLICY.recipients},
            bus.topics.decisions,
            bus.topics.dead_letter,
            {topic: "CBP"},
        ),
        Codecs(
            reader.codec(Lookout),
            codec(Pointer, 9003),
            codec(LifecycleNotice, 9006),
            codec(PolicyDecision, 9004),
            codec(ChainSeal, 9005),
        ),
        "test-router",
    )
    outbound = fanout.route(Inbound(Position(topic, 0, 0), b"k", value), decoded, AT)
    whole = [
        o.value for o in outbound if (o.headers or []).count(("intelbus.decision", b"deliver"))
    ]
    assert whole, "no recipient got the lookout whole"
    assert all(v == decoded.wire for v in whole)


# -- the check of the bytes ---------------------------------------------------------------------


def _record(*fields: tuple[str, Any]) -> Any:
    return fastavro.parse_schema(
        {"type": "record", "name": "R", "fields": [{"name": n, "type": t} for n, t in fields]}
    )


def test_fastavros_own_encodings_pass_the_check() -> None:
    """No false alarms: 400 generated lookouts and alerts (PNR, sensitive items, several
    subjects) as fastavro writes them pass the check of their schema."""
    for model, events in ((Lookout, lookouts(200, seed=5)), (OfficerSafetyAlert, alerts(200))):
        schema = fastavro.parse_schema(json.loads(serde.expanded_schema(SCHEMAS, model.avro_name)))
        check = compile_check(schema)
        for event in events:
            check(schemaless(schema, event.to_avro()))


@pytest.mark.parametrize(
    ("schema", "refusal"),
    [
        (
            {"type": "record", "name": "R", "fields": [{"name": "r", "type": ["null", "R"]}]},
            "R is recursive",
        ),
        (
            {
                "type": "record",
                "name": "R",
                "fields": [{"name": "a", "type": {"type": "array", "items": "null"}}],
            },
            "array items that take no bytes",
        ),
        (
            {
                "type": "record",
                "name": "R",
                "fields": [{"name": "m", "type": {"type": "map", "values": "long"}}],
            },
            "Avro map is not supported",
        ),
        (
            {"type": "record", "name": "R", "fields": [{"name": "u", "type": ["int", "long"]}]},
            "a union other than null and one type",
        ),
        (
            {"type": "record", "name": "R", "fields": [{"name": "f", "type": "float"}]},
            "Avro float is not supported",
        ),
    ],
)
def test_schemas_whose_bytes_cannot_be_bounded_or_proven_canonical_do_not_compile(
    schema: dict[str, Any], refusal: str
) -> None:
    with pytest.raises(UnsupportedSchema, match=refusal):
        compile_check(fastavro.parse_schema(schema))


@pytest.mark.parametrize(
    ("schema", "payload", "reason"),
    [
        (_record(("i", "int")), avro_long(2**31 - 1), None),
        (_record(("i", "int")), avro_long(2**31), "undecodable"),
        (_record(("i", "long")), avro_long(-(2**63)), None),
        (_record(("i", "long")), b"\xff" * 9 + b"\x03", "undecodable"),  # 2^64 and more
        (_record(("i", "long")), b"\xff" * 10 + b"\x01", "undecodable"),  # 11 bytes
        (_record(("s", "string")), avro_long(2**62) + b"abc", "undecodable"),
        (_record(("s", "string")), avro_long(-1), "undecodable"),
        (
            _record(("a", {"type": "array", "items": "long"})),
            avro_long(2**62) + b"\x02",
            "undecodable",
        ),
        (
            _record(("a", {"type": "array", "items": "long"})),
            avro_long(MAX_ITEMS + 1) + bytes(MAX_ITEMS + 2),
            "too-many-items",
        ),
        (
            _record(("a", {"type": "array", "items": "long"})),
            avro_long(MAX_ITEMS) + bytes(MAX_ITEMS + 1),
            None,
        ),
        (_record(("u", ["null", "long"])), b"\x04\x02", "undecodable"),
        (_record(("u", ["null", "long"])), b"\x82\x00\x02", "non-canonical"),
        (_record(("d", "double")), bytes(7), "undecodable"),
        (_record(("b", "boolean")), b"", "undecodable"),
    ],
)
def test_values_the_schema_cannot_have_are_refused(
    schema: Any, payload: bytes, reason: str | None
) -> None:
    """Out-of-range ints and longs, overlong varints, lengths and counts beyond the bytes
    left (refused before looping), item budgets, union branches, short reads."""
    check = compile_check(schema)
    if reason is None:
        check(payload)
        return
    with pytest.raises(Malformed) as malformed:
        check(payload)
    assert malformed.value.reason == reason


# -- the fuzz run (bench/fuzz.py runs 10,000) ---------------------------------------------------


def test_a_short_fuzz_run_neither_crashes_nor_accepts_what_it_must_not(bus: Bus) -> None:
    """A few hundred seeded crafted records through the router's decode path: no crash, no
    hang, nothing accepted that was written with a foreign schema or is not canonical."""
    tally = fuzz(bus.settings, count=300, seed=12)
    summary = tally.as_dict()
    assert tally.accepted > 0, summary  # the valid cases get through
    assert summary["crashes"] == 0, summary
    assert summary["hangs_over_1s"] == 0, summary
    assert summary["accepted_foreign_schema"] == 0, summary
    assert summary["accepted_trailing_bytes"] == 0, summary
    assert summary["accepted_non_canonical"] == 0, summary
    assert set(summary["rejected_by_reason"]) <= set(REASONS), summary  # stable codes only
