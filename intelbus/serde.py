"""Avro on the wire: the schema files, the registry, and confluent-kafka's serializers.

Subject naming is pinned to **RecordNameStrategy** (subject = the record's full name, e.g.
``intelbus.Lookout``): a recipient's feed carries several record types (lookouts, alerts,
pointers), which TopicNameStrategy cannot express, and one record type then evolves under one
subject whichever topics carry it. It is pinned explicitly because confluent-kafka >= 2.14
otherwise defaults to the ASSOCIATED strategy, which calls an endpoint Apicurio lacks.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

import fastavro
from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    record_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro.schema import to_parsing_canonical_form

from intelbus.errors import IntelbusError
from intelbus.models import (
    CaseOutcome,
    ChainSeal,
    DeconflictionCheck,
    DeconflictionNotice,
    DisclosureAuthorization,
    HitAnswer,
    HitReport,
    KeyRotation,
    LifecycleNotice,
    Lookout,
    OfficerSafetyAlert,
    Operation,
    Pointer,
    PolicyDecision,
    Record,
    Withdrawal,
)
from intelbus.secrets import SecretStore
from intelbus.settings import Settings

__all__ = [
    "COMPATIBILITY",
    "MESSAGE_TYPES",
    "FastCodec",
    "RecordSerializer",
    "RegistryUnavailable",
    "UnknownSchemaId",
    "WriterSchema",
    "WriterSchemas",
    "expanded_schema",
    "fingerprint",
    "register_schemas",
    "registry_client",
    "schema_id_of",
]

CONFLUENT_HEADER = 5  # magic byte 0x00, then the 4-byte schema id
_REGISTRY_TIMEOUT_S = 10.0
_SCHEMA_NOT_FOUND = 40403  # the registry's own error code: a 404 without it is not an answer
_NOT_REGISTERED = (40401, _SCHEMA_NOT_FOUND)  # its answers to a lookup: no subject, no schema
_MAX_SCHEMA_CHARS = 1_048_576  # a writer schema's text; the contract's largest is ~11,000


def schema_id_of(data: bytes) -> int | None:
    """The schema id of a Confluent-framed message, or None if it is not framed."""
    if len(data) < CONFLUENT_HEADER or data[0] != 0:
        return None
    return int.from_bytes(data[1:CONFLUENT_HEADER], "big")


R = TypeVar("R", bound=Record)

# Records that travel as Kafka message values (the others are nested inside them).
MESSAGE_TYPES: tuple[type[Record], ...] = (
    Lookout,
    OfficerSafetyAlert,
    DisclosureAuthorization,
    CaseOutcome,
    Pointer,
    PolicyDecision,
    ChainSeal,
    KeyRotation,
    Withdrawal,
    LifecycleNotice,
    HitReport,
    HitAnswer,
    Operation,
    DeconflictionNotice,
    DeconflictionCheck,
)
COMPATIBILITY = "BACKWARD"
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _inline(node: Any, schemas_dir: Path, defined: set[str]) -> Any:
    """Replace references to named types kept in their own files by their definitions.

    Avro allows a named type to be defined once per schema; later uses stay references.
    """
    if isinstance(node, str):
        if node in _PRIMITIVES or node in defined:
            return node
        path = schemas_dir / f"{node}.avsc"
        if not path.is_file():
            raise ValueError(f"schema type {node!r} is neither defined nor in {path}")
        return _inline(json.loads(path.read_text()), schemas_dir, defined)
    if isinstance(node, list):
        return [_inline(item, schemas_dir, defined) for item in node]
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "enum", "fixed"):
            defined.add(f"{node.get('namespace', 'intelbus')}.{node['name']}")
        expanded = dict(node)
        if kind == "record":
            expanded["fields"] = [
                {**field, "type": _inline(field["type"], schemas_dir, defined)}
                for field in node["fields"]
            ]
        elif kind == "array":
            expanded["items"] = _inline(node["items"], schemas_dir, defined)
        elif kind == "map":
            expanded["values"] = _inline(node["values"], schemas_dir, defined)
        elif isinstance(kind, (dict, list)) or (isinstance(kind, str) and "." in kind):
            expanded["type"] = _inline(kind, schemas_dir, defined)
        return expanded
    return node


@cache
def expanded_schema(schemas_dir: Path, full_name: str) -> str:
    """The self-contained schema of ``full_name`` (all named types inlined), as JSON."""
    return json.dumps(_inline(full_name, schemas_dir, set()), separators=(",", ":"))


def fingerprint(schema: Any) -> str:
    """SHA-256 of a parsed schema's Parsing Canonical Form, in hex: equal for the same
    schema whatever its docs, defaults, aliases or layout; a forger cannot aim at one (CRC-64,
    Avro's default fingerprint, is linear and can)."""
    return hashlib.sha256(to_parsing_canonical_form(schema).encode()).hexdigest()


class UnknownSchemaId(LookupError):
    """The registry has no schema with this id."""


class RegistryUnavailable(Exception):
    """The schema registry did not answer; retry later, the input is not at fault."""


@dataclass(frozen=True, slots=True)
class WriterSchema:
    """What a registry schema id stands for: its record's full name (or what else the text
    is) and its fingerprint (None when the text is not a valid Avro schema)."""

    name: str
    fingerprint: str | None


class WriterSchemas:
    """The registry's schemas by id, fingerprinted and cached. Nothing is decoded with them:
    readers decode with the contract's own text of the version a fingerprint names. Registry
    failures (anything but its own "not found") are told apart from unknown ids."""

    def __init__(self, client: SchemaRegistryClient) -> None:
        self._client = client
        self._known: dict[int, WriterSchema] = {}

    def identify(self, schema_id: int) -> WriterSchema:
        known = self._known.get(schema_id)
        if known is None:
            known = self._known[schema_id] = _identify(self._fetch(schema_id))
        return known

    def _fetch(self, schema_id: int) -> str:
        try:
            schema = self._client.get_schema(schema_id)
        except SchemaRegistryError as error:
            if error.http_status_code == 404 and error.error_code == _SCHEMA_NOT_FOUND:
                raise UnknownSchemaId(f"the registry has no schema {schema_id}") from None
            raise _unavailable(error) from error
        except Exception as error:
            raise _unavailable(error) from error
        if not schema.schema_str:
            # The client cached that answer: forget it, or every retry would get it again.
            self._client.clear_caches()  # type: ignore[no-untyped-call]
            raise RegistryUnavailable(f"the registry answered without a schema for id {schema_id}")
        return schema.schema_str


def _unavailable(error: Exception) -> RegistryUnavailable:
    """Any failure but the registry's own answer: connection refused, timeout, DNS, a 5xx,
    a proxy's 404, a malformed answer."""
    if isinstance(error, SchemaRegistryError):
        return RegistryUnavailable(str(error))
    return RegistryUnavailable(f"{type(error).__name__}: {error}")


def _identify(text: str) -> WriterSchema:
    if len(text) > _MAX_SCHEMA_CHARS:
        return WriterSchema(f"a schema of {len(text)} characters", None)
    try:
        parsed = fastavro.parse_schema(json.loads(text))
        name = parsed.get("name", parsed.get("type")) if isinstance(parsed, dict) else parsed
        return WriterSchema(str(name), fingerprint(parsed))
    except Exception as error:  # whatever a registry user registered: it is not ours
        return WriterSchema(f"not an Avro schema ({type(error).__name__})", None)


def registry_client(settings: Settings) -> SchemaRegistryClient:
    """The registry as ``settings.principal``: HTTP basic authentication with its bus
    password (the registry lets only the operator change schemas)."""
    # A bounded wait: a request the registry never answers is retried (the client's own
    # retry policy) instead of hanging its caller for ever.
    config: dict[str, Any] = {"url": settings.schema_registry_url, "timeout": _REGISTRY_TIMEOUT_S}
    if settings.security_protocol != "PLAINTEXT":
        password = SecretStore(settings.secrets_dir).password(settings.principal)
        config["basic.auth.user.info"] = f"{settings.principal}:{password}"
    return SchemaRegistryClient(config)


class RecordSerializer(Generic[R]):
    """confluent-kafka's Avro serializer for one record type, as publishers use it: it
    writes under the registered schema's id and never registers one itself."""

    def __init__(self, client: SchemaRegistryClient, model: type[R], schemas_dir: Path) -> None:
        self.model = model
        self._serializer = AvroSerializer(
            client,
            expanded_schema(schemas_dir, model.avro_name),
            conf={
                # Schemas are registered deliberately (`intelbus schemas register`), never by
                # whichever producer runs first.
                "auto.register.schemas": False,
                "subject.name.strategy": record_subject_name_strategy,
            },
        )

    def serialize(self, record: Record, topic: str) -> bytes:
        return self.serialize_dict(record.to_avro(), topic)

    def serialize_dict(self, record: dict[str, Any], topic: str) -> bytes:
        """Serialize an Avro dict of this record type (wire names), e.g. a redacted view."""
        data = self._serializer(record, SerializationContext(topic, MessageField.VALUE))
        assert isinstance(data, bytes)
        return data


class FastCodec:
    """One record type in the Confluent wire format, with fastavro directly.

    confluent-kafka's Avro serializer runs its data-contract machinery (subject lookup, rules,
    inline tags, migrations) on every message, about 180 µs of a ~330 µs event at fan-out 3
    (bench/). This codec does the same framing for the router's hot path and for every
    reader (intelbus.reader): our schema is the reader schema, and it writes under our
    schema's registered id (looked up, never registered).
    """

    def __init__(self, model: type[Record], schemas_dir: Path, schema_id: int) -> None:
        self.model = model
        self.schemas_dir = schemas_dir
        self.schema = fastavro.parse_schema(
            json.loads(expanded_schema(schemas_dir, model.avro_name))
        )
        self.schema_id = schema_id
        self._header = b"\x00" + schema_id.to_bytes(4, "big")

    @classmethod
    def registered(
        cls, client: SchemaRegistryClient, model: type[Record], schemas_dir: Path
    ) -> FastCodec:
        """The codec writing under the id the registry gave our schema of ``model``."""
        text = expanded_schema(schemas_dir, model.avro_name)
        try:
            found = client.lookup_schema(model.avro_name, Schema(text, "AVRO"))
        except SchemaRegistryError as error:
            if error.http_status_code == 404 and error.error_code in _NOT_REGISTERED:
                raise IntelbusError(
                    f"the registry does not hold our {model.avro_name} schema: "
                    "run `intelbus schemas register`"
                ) from None
            raise _unavailable(error) from error
        except Exception as error:
            raise _unavailable(error) from error
        if found.schema_id is None:
            raise ValueError(f"the registry returned no id for {model.avro_name}")
        return cls(model, schemas_dir, found.schema_id)

    def decode(self, payload: bytes, writer: Any = None) -> dict[str, Any]:
        """The record of an unframed payload, read with our schema (resolving ``writer``'s,
        the parsed schema it was written with, when that is not ours)."""
        record = fastavro.schemaless_reader(
            io.BytesIO(payload), writer or self.schema, self.schema if writer else None
        )
        if not isinstance(record, dict):
            raise ValueError(f"expected a record, decoded {type(record).__name__}")
        return record

    def encode(self, record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self._header)
        fastavro.schemaless_writer(buffer, self.schema, record)
        return buffer.getvalue()

    def frame(self, payload: bytes) -> bytes:
        """``payload``, already in our schema's encoding, under our schema's id."""
        return self._header + payload


def register_schemas(
    client: SchemaRegistryClient,
    schemas_dir: Path,
    models: tuple[type[Record], ...] = MESSAGE_TYPES,
) -> dict[str, int]:
    """Register each message type under its record-name subject with BACKWARD compatibility.

    Idempotent: registering an unchanged schema returns its existing id. Returns subject -> id.
    """
    ids: dict[str, int] = {}
    for model in models:
        subject = model.avro_name
        # Compatibility first, so that even the first version is checked against later ones.
        client.set_compatibility(subject_name=subject, level=COMPATIBILITY)
        schema = Schema(expanded_schema(schemas_dir, subject), "AVRO")
        ids[subject] = client.register_schema(subject, schema)
    return ids
