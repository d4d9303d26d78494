"""BACKWARD compatibility, enforced by the real registry."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from intelbus import serde
from intelbus.settings import Settings
from tests.conftest import Bus

RELEASED = Path(__file__).parent.parent / "schemas" / "released"


def _subject_with_v1(client: SchemaRegistryClient, schema: dict[str, object]) -> str:
    """A fresh subject holding ``schema`` as its first version, under BACKWARD."""
    subject = f"test-{uuid.uuid4().hex[:8]}.{schema['namespace']}.{schema['name']}"
    client.set_compatibility(subject_name=subject, level=serde.COMPATIBILITY)
    client.register_schema(subject, Schema(json.dumps(schema), "AVRO"))
    return subject


def _lookout_schema(settings: Settings) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(
        serde.expanded_schema(settings.schemas_dir, "intelbus.Lookout")
    )
    return loaded


def test_registry_accepts_compatible_and_refuses_breaking_change(bus: Bus) -> None:
    """Adding an optional field with a default is accepted; adding a required field (old
    records could not be read) is refused with HTTP 409."""
    client = serde.registry_client(bus.settings)
    v1 = _lookout_schema(bus.settings)
    subject = _subject_with_v1(client, v1)

    compatible = copy.deepcopy(v1)
    compatible["fields"].append(  # type: ignore[attr-defined]
        {"name": "sourceSystem", "type": ["null", "string"], "default": None, "doc": "x"}
    )
    assert client.test_compatibility(subject, Schema(json.dumps(compatible), "AVRO"))
    client.register_schema(subject, Schema(json.dumps(compatible), "AVRO"))

    breaking = copy.deepcopy(compatible)
    breaking["fields"].append({"name": "caseAgent", "type": "string", "doc": "x"})  # type: ignore[attr-defined]
    assert not client.test_compatibility(subject, Schema(json.dumps(breaking), "AVRO"))
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(json.dumps(breaking), "AVRO"))
    assert refused.value.http_status_code == 409
    assert len(client.get_versions(subject)) == 2


@pytest.mark.parametrize(
    "release", sorted(RELEASED.glob("v*/*.avsc")), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_current_schemas_can_read_every_release(bus: Bus, release: Path) -> None:
    """The schemas in schemas/avro are BACKWARD compatible with each released version."""
    client = serde.registry_client(bus.settings)
    subject = _subject_with_v1(client, json.loads(release.read_text()))
    current = serde.expanded_schema(bus.settings.schemas_dir, release.stem)
    assert client.test_compatibility(subject, Schema(current, "AVRO")), (
        f"schemas/avro/{release.stem} breaks compatibility with {release}"
    )
