"""Read records to publish from JSON or NDJSON and validate every one before any is sent.

Accepted: one JSON object, a JSON array of objects, or NDJSON (one object per line; blank
lines are ignored). Field names are the schema's (camelCase) or the models' (snake_case).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from pydantic import ValidationError

from intelbus.models import Record

__all__ = ["InputProblem", "parse_records"]

R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class InputProblem:
    """One bad record: where it is (line, or item of an array), which field, and why."""

    where: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.reason}"


def _records(stream: TextIO) -> Iterator[tuple[str, Any]]:
    """Yield (where, decoded JSON value) for each record of the input."""
    first = ""
    lines = iter(stream)
    for line in lines:
        if line.strip():
            first = line
            break
    if first.lstrip().startswith("["):
        text = first + "".join(lines)
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            yield f"line {error.lineno}", error
            return
        for index, item in enumerate(items, start=1):
            yield f"item {index}", item
        return
    # A pretty-printed single object spans lines; NDJSON has one object per line.
    try:
        yield "line 1", json.loads(first)
        start = 2
    except json.JSONDecodeError:
        rest = first + "".join(lines)
        try:
            yield "item 1", json.loads(rest)
        except json.JSONDecodeError as error:
            yield f"line {error.lineno}", error
        return
    for number, line in enumerate(lines, start=start):
        if line.strip():
            try:
                yield f"line {number}", json.loads(line)
            except json.JSONDecodeError as error:
                yield f"line {number}", error


def parse_records(
    stream: TextIO,
    model: type[R],
    on_valid: Callable[[R], None],
) -> tuple[int, list[InputProblem]]:
    """Validate each record of ``stream`` as ``model`` and hand valid ones to ``on_valid``.

    Returns (records read, problems). The caller publishes nothing unless problems is empty.
    """
    problems: list[InputProblem] = []
    count = 0
    for where, value in _records(stream):
        count += 1
        if isinstance(value, json.JSONDecodeError):
            problems.append(InputProblem(where, "(json)", value.msg))
            continue
        if not isinstance(value, dict):
            problems.append(InputProblem(where, "(record)", "expected a JSON object"))
            continue
        try:
            record = model.model_validate(value)
        except ValidationError as error:
            for detail in error.errors():
                field = ".".join(str(part) for part in detail["loc"]) or "(record)"
                problems.append(InputProblem(where, field, detail["msg"]))
            continue
        try:
            on_valid(record)
        except (ValueError, TypeError) as error:
            problems.append(InputProblem(where, "(serialization)", str(error)))
    return count, problems
