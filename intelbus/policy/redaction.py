"""Remove or mask fields of a record by dotted path (schema names, e.g. ``pnr.sensitive``;
``pnr.generalRemarks.2`` is one item of an array).

Records are handled as the Avro dicts the deserializer returns; edits copy only the dicts
along the path, so views of one event share everything they do not change.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

__all__ = ["MASK", "check_path", "mask", "matching", "remove"]

MASK = "[masked]"


def _edit(record: dict[str, Any], path: str, change: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    if head not in record:
        raise KeyError(f"no field {head!r} on the path {path!r}")
    inner = record[head]
    if not rest:
        return {**record, head: change(inner)}
    if inner is None:  # nothing there to edit
        return record
    if isinstance(inner, list):  # ``field.<index>``: one item of an array
        index = int(rest)
        return {**record, head: [*inner[:index], change(inner[index]), *inner[index + 1 :]]}
    return {**record, head: _edit(inner, rest, change)}


def _removed(value: Any) -> Any:
    return [] if isinstance(value, list) else None


def _masked(value: Any) -> Any:
    if isinstance(value, list):
        return [MASK for _ in value]
    return None if value is None else MASK


def remove(record: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``record`` with the field at ``path`` emptied (null, or an empty array)."""
    return _edit(record, path, _removed)


def mask(record: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``record`` with the string(s) at ``path`` replaced by :data:`MASK`."""
    return _edit(record, path, _masked)


def matching(record: dict[str, Any], path: str, matches: Callable[[str], bool]) -> list[str]:
    """The paths of the strings at ``path`` that ``matches``: ``path`` itself for a string,
    ``path.<index>`` for each matching item of an array of strings."""
    head, _, rest = path.partition(".")
    value = record[head]
    if rest:
        return [] if value is None else [f"{head}.{p}" for p in matching(value, rest, matches)]
    if isinstance(value, list):
        return [f"{path}.{index}" for index, text in enumerate(value) if matches(text)]
    return [path] if value is not None and matches(value) else []


def _field_annotation(model: type[BaseModel], alias: str) -> Any:
    for name, info in model.model_fields.items():
        if info.alias == alias:
            return typing.get_type_hints(model)[name]
    raise ValueError(f"{model.__name__} has no field {alias!r}")


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, nullable) of ``X | None`` or ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def check_path(model: type[BaseModel], path: str, *, maskable: bool) -> None:
    """Raise ValueError unless ``path`` names a field that can be removed (nullable or an
    array) or, with ``maskable``, masked (a string or an array of strings)."""
    current: Any = model
    parts = path.split(".")
    for index, part in enumerate(parts):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            raise ValueError(f"{path}: {'.'.join(parts[:index])} is not a record")
        annotation, nullable = _unwrap(_field_annotation(current, part))
        current = annotation
    origin = typing.get_origin(current)
    if maskable:
        item = typing.get_args(current)[0] if origin is list else current
        if typing.get_origin(item) is typing.Annotated:
            item = typing.get_args(item)[0]
        if item is not str:
            raise ValueError(f"{path}: only strings and arrays of strings can be masked")
    elif not (nullable or origin is list):
        raise ValueError(f"{path}: a required field cannot be removed")
