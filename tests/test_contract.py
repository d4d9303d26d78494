"""The Avro schemas are the contract; the pydantic models agree with them field by field."""

from __future__ import annotations

import datetime as dt
import json
import types
import typing
from enum import StrEnum
from pathlib import Path
from typing import Any

import fastavro
import pytest
from pydantic import AwareDatetime, BaseModel

from intelbus import models, serde
from intelbus.models import Record
from intelbus.settings import Settings
from tests import factories
from tests.avro_helpers import fastavro_round_trip

SCHEMAS = Settings().schemas_dir
SCHEMA_FILES = sorted(SCHEMAS.glob("*.avsc"))
RECORD_MODELS = [
    m
    for m in vars(models).values()
    if isinstance(m, type) and issubclass(m, Record) and m is not Record
]
ENUM_MODELS = [m for m in vars(models).values() if isinstance(m, type) and issubclass(m, StrEnum)]


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_one_documented_named_type_per_file(path: Path) -> None:
    """Each file holds one named type, named after the file, with a doc on it and every field."""
    schema = _load(path)
    assert f"{schema['namespace']}.{schema['name']}.avsc" == path.name
    assert schema.get("doc"), "the type needs a doc"
    for field in schema.get("fields", []):
        assert field.get("doc"), f"field {field['name']} needs a doc"


@pytest.mark.parametrize("model", serde.MESSAGE_TYPES, ids=lambda m: m.__name__)
def test_message_schemas_expand_and_parse(model: type[Record]) -> None:
    """Every message type expands into one self-contained schema that fastavro accepts."""
    expanded = json.loads(serde.expanded_schema(SCHEMAS, model.avro_name))
    fastavro.parse_schema(expanded)
    assert f"{expanded['namespace']}.{expanded['name']}" == model.avro_name


def _avro_type_matches(avro: Any, annotation: Any) -> None:
    """Assert that a Python annotation is the model-side twin of an Avro type."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        _avro_type_matches(avro, typing.get_args(annotation)[0])
        return
    if isinstance(avro, list):  # a union: only ["null", T] is used
        assert avro[0] == "null", avro
        assert len(avro) == 2, avro
        assert origin in (typing.Union, types.UnionType), annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        assert len(args) == 1, annotation
        _avro_type_matches(avro[1], args[0])
        return
    if isinstance(avro, dict) and avro.get("type") == "array":
        assert origin in (list, tuple), annotation
        _avro_type_matches(avro["items"], typing.get_args(annotation)[0])
        return
    if isinstance(avro, dict) and "logicalType" in avro:
        expected = {"timestamp-millis": (dt.datetime, AwareDatetime), "date": (dt.date,)}
        assert annotation in expected[avro["logicalType"]], annotation
        return
    primitive = {
        "string": str,
        "int": int,
        "long": int,
        "double": float,
        "boolean": bool,
        "bytes": bytes,
    }
    if isinstance(avro, str) and avro in primitive:
        assert annotation is primitive[avro], (avro, annotation)
        return
    name = avro if isinstance(avro, str) else f"{avro['namespace']}.{avro['name']}"
    assert isinstance(annotation, type), annotation
    if issubclass(annotation, Record):
        assert annotation.avro_name == name
    else:
        assert issubclass(annotation, StrEnum)
        assert f"intelbus.{annotation.__name__}" == name


@pytest.mark.parametrize("model", RECORD_MODELS, ids=lambda m: m.__name__)
def test_model_agrees_with_schema_field_by_field(model: type[Record]) -> None:
    """Same fields in the same order, same types, same optionality and defaults."""
    schema = _load(SCHEMAS / f"{model.avro_name}.avsc")
    fields = model.model_fields
    hints = typing.get_type_hints(model, include_extras=True)
    assert [f.alias for f in fields.values()] == [f["name"] for f in schema["fields"]]
    for (name, info), avro_field in zip(fields.items(), schema["fields"], strict=True):
        _avro_type_matches(avro_field["type"], hints[name])
        if "default" in avro_field:
            default = info.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                default = default.model_dump(by_alias=True)
            assert default == avro_field["default"], name
        else:
            assert info.is_required(), f"{name} has no Avro default, so it must be required"


@pytest.mark.parametrize("enum", ENUM_MODELS, ids=lambda e: e.__name__)
def test_enum_symbols_match(enum: type[StrEnum]) -> None:
    schema = _load(SCHEMAS / f"intelbus.{enum.__name__}.avsc")
    assert [member.value for member in enum] == schema["symbols"]


def _zero_width(avro: Any, named: dict[str, Any]) -> bool:
    """Can a value of this type be encoded in zero bytes?"""
    if isinstance(avro, str):
        if avro == "null":
            return True
        return _zero_width(named[avro], named) if avro in named else False
    if isinstance(avro, list):
        return False  # a union always writes its branch index
    if avro.get("type") == "record":
        return all(_zero_width(f["type"], named) for f in avro["fields"])
    return False


def test_no_array_of_zero_width_items() -> None:
    """fastavro does not bound declared block counts; with items of at least one byte, a
    forged count runs out of input at once instead of looping (see the design pitfalls)."""
    named = {f"{s['namespace']}.{s['name']}": s for s in map(_load, SCHEMA_FILES)}
    for schema in named.values():
        for field in schema.get("fields", []):
            types_ = field["type"] if isinstance(field["type"], list) else [field["type"]]
            for avro in types_:
                if isinstance(avro, dict) and avro.get("type") == "array":
                    assert not _zero_width(avro["items"], named), (schema["name"], field["name"])


def test_fastavro_round_trip_of_every_message_type() -> None:
    """Models serialize to Avro and back to equal models without the registry."""
    for record in (factories.lookout(), factories.alert()):
        assert fastavro_round_trip(record) == record
