"""Read records to publish from JSON or NDJSON and validate every one before any is sent.

Accepted: a JSON array of objects (the file starts with ``[``), one pretty-printed object
(``{`` alone on its first line), or NDJSON (one object per line; blank lines are ignored).
Field names are the schema's (camelCase) or the models' (snake_case).

Ids are checked against the policy set (an event's originator agency and named recipients,
an authorization's recipient). Nothing surprises: what json.loads is given is bounded first
(a JSON document by ``MAX_INPUT_BYTES``; NDJSON is read line by line, each line by a few
times the event limit, so a bulk file of any number of records works), must be UTF-8, may
not repeat a key in an object nor nest deeper than ``MAX_DEPTH``; a record is valid only if
its Avro encoding fits the router's limit (``Settings.max_event_bytes``), since the router
would dead-letter it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar, cast

from pydantic import ValidationError

from intelbus.canonical import Check, Malformed, compile_check
from intelbus.errors import IntelbusError
from intelbus.models import Record
from intelbus.policy.policyset import load_policy_set
from intelbus.policy.references import unknown_references
from intelbus.serde import CONFLUENT_HEADER, FastCodec
from intelbus.settings import Settings
from intelbus.utf8 import NotUtf8, decode_utf8

__all__ = [
    "MAX_DEPTH",
    "MAX_INPUT_BYTES",
    "InputError",
    "InputProblem",
    "ModelOf",
    "parse_file",
    "parse_records",
]

R = TypeVar("R", bound=Record)
# A model, or what picks the model from a decoded object (an event is a lookout or an alert).
ModelOf = type[R] | Callable[[dict[str, Any]], type[R]]

MAX_INPUT_BYTES = 16 * 1024 * 1024  # a JSON document (array or object), parsed at once
MAX_DEPTH = 64  # a record nests about 5 deep; json's own limit is the interpreter's stack
# JSON spends more bytes than Avro on names, quotes and escapes: a line this many times the
# event limit leaves room for any record the router takes and still bounds json.loads.
_LINE_FACTOR = 4
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"


class InputError(IntelbusError):
    """The input as a whole cannot be read (missing, a document too large); nothing of it
    was validated."""


@dataclass(frozen=True)
class InputProblem:
    """One bad record: where it is (line, or item of an array), which field, and why."""

    where: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.reason}"


class _Unreadable(Exception):
    """A record that is not a readable JSON value; ``line`` is from 1 within its text."""

    def __init__(self, field: str, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.line = line


class _Repeated(dict[str, Any]):
    """An object in which the JSON gives ``key`` twice (json.loads would keep the last)."""

    def __init__(self, pairs: list[tuple[str, Any]], key: str) -> None:
        super().__init__(pairs)
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object_pairs_hook: marks an object with a repeated key, for its record to be
    refused with the key named (raising here could not say which record of an array)."""
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            break
        seen.add(key)
    return _Repeated(pairs, key)


def _loads(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as error:
        raise _Unreadable("(json)", error.msg, error.lineno) from None
    except RecursionError:
        raise _Unreadable("(json)", _TOO_DEEP) from None


def _check_tree(value: Any) -> None:
    """Refuse a repeated key or nesting beyond MAX_DEPTH anywhere in ``value`` (walked level
    by level, not by recursion, so no depth can crash the walk)."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(MAX_DEPTH):
        below: list[Any] = []
        for node in level:
            if isinstance(node, _Repeated):
                raise _Unreadable("(json)", f"duplicate key {node.key!r}")
            children = node.values() if isinstance(node, dict) else node
            below.extend(child for child in children if isinstance(child, dict | list))
        level = below
    if level:
        raise _Unreadable("(json)", _TOO_DEEP)


def _document(data: bytes) -> Iterator[tuple[str, Any]]:
    """Yield (where, value or _Unreadable) for an array or a single pretty-printed object."""
    try:
        value = _loads(decode_utf8(data))
    except NotUtf8 as error:
        yield f"line {error.line}", _Unreadable("(encoding)", str(error))
        return
    except _Unreadable as error:
        yield f"line {error.line}" if error.line else "item 1", error
        return
    for index, item in enumerate(value if isinstance(value, list) else [value], start=1):
        try:
            _check_tree(item)
        except _Unreadable as error:
            yield f"item {index}", error
        else:
            yield f"item {index}", item


def _ndjson_line(line: bytes) -> Any:
    try:
        value = _loads(decode_utf8(line))
    except NotUtf8 as error:
        raise _Unreadable("(encoding)", str(error)) from None
    _check_tree(value)
    return value


def _lines(stream: BinaryIO, max_line: int, first: bytes) -> Iterator[bytes | int]:
    """``first`` and each further line of ``stream``, or the length of a line longer than
    ``max_line`` (skipped: no more than ``max_line`` bytes of a line are held at once)."""
    line = first
    while line:
        if len(line.rstrip(b"\r\n")) <= max_line:
            yield line
        else:
            length = len(line)
            while not line.endswith(b"\n") and (line := stream.readline(max_line + 1)):
                length += len(line)
            yield length - (len(line) - len(line.rstrip(b"\r\n")))
        line = stream.readline(max_line + 1)


def _model_for(model: ModelOf[R], value: dict[str, Any]) -> type[R]:
    # mypy narrows type[R] by isinstance to a bare `type`; the cast restores what it is.
    return cast("type[R]", model) if isinstance(model, type) else model(value)


def _records(stream: BinaryIO, max_line: int, source: str) -> Iterator[tuple[str, Any]]:
    """Yield (where, decoded JSON value or _Unreadable) for each record of the input."""
    blank = 0
    while first := stream.readline(max_line + 1):
        if first.strip():
            break
        blank += 1
    else:
        return
    start = first.lstrip()
    if start.startswith(b"[") or start.strip() == b"{":
        # Newlines for the blank lines keep json's line numbers those of the file.
        data = b"\n" * blank + first + stream.read(MAX_INPUT_BYTES + 1 - len(first))
        if len(data) - blank > MAX_INPUT_BYTES:
            raise InputError(
                f"{source}: a JSON document larger than {MAX_INPUT_BYTES:,} bytes; "
                "split it, or give one record per line (NDJSON)"
            )
        yield from _document(data)
        return
    yield from _ndjson(enumerate(_lines(stream, max_line, first), start=blank + 1), max_line)


def _ndjson(lines: Iterator[tuple[int, bytes | int]], max_line: int) -> Iterator[tuple[str, Any]]:
    """Yield (where, value or _Unreadable) for each non-blank line."""
    for number, line in lines:
        where = f"line {number}"
        if isinstance(line, int):
            reason = f"the line is {line:,} bytes; a record's line may have {max_line:,}"
            yield where, _Unreadable("(size)", reason)
        elif line.strip():
            try:
                yield where, _ndjson_line(line)
            except _Unreadable as error:
                yield where, error


def _codec_and_check(model: type[Record], settings: Settings) -> tuple[FastCodec, Check]:
    codec = FastCodec(model, settings.schemas_dir, 0)
    return codec, compile_check(codec.schema)


def parse_records(
    stream: BinaryIO,
    model: ModelOf[R],
    on_valid: Callable[[R], None],
    settings: Settings,
    source: str = "the input",
) -> tuple[int, list[InputProblem]]:
    """Validate each record of ``stream`` as ``model`` and hand valid ones to ``on_valid``.

    Returns (records read, problems). The caller publishes nothing unless problems is empty.
    Raises :class:`InputError` (naming ``source``) for a document over ``MAX_INPUT_BYTES``.
    """
    limit = settings.max_event_bytes
    policy = load_policy_set(settings.policies_dir)
    checks: dict[type[Record], tuple[FastCodec, Check]] = {}
    problems: list[InputProblem] = []
    count = 0
    for where, value in _records(stream, _LINE_FACTOR * limit, source):
        count += 1
        if isinstance(value, _Unreadable):
            problems.append(InputProblem(where, value.field, value.reason))
            continue
        if not isinstance(value, dict):
            problems.append(InputProblem(where, "(record)", "expected a JSON object"))
            continue
        chosen = _model_for(model, value)
        try:
            record = chosen.model_validate(value)
        except ValidationError as error:
            for detail in error.errors():
                field = ".".join(str(part) for part in detail["loc"]) or "(record)"
                problems.append(InputProblem(where, field, detail["msg"]))
            continue
        unknown = unknown_references(record, policy)
        if unknown:
            problems += [InputProblem(where, field, reason) for field, reason in unknown]
            continue
        # Measured as the router will: the Avro encoding with its 5-byte header (the schema
        # id in the header does not change the size).
        codec, check = checks.get(chosen) or checks.setdefault(
            chosen, _codec_and_check(chosen, settings)
        )
        try:
            encoded = codec.encode(record.to_avro())
        except (ValueError, TypeError) as error:
            problems.append(InputProblem(where, "(serialization)", str(error)))
            continue
        size = len(encoded)
        try:  # the router's bounds (array items per message), before publishing
            check(encoded[CONFLUENT_HEADER:])
        except Malformed as malformed:
            problems.append(InputProblem(where, f"({malformed.reason})", malformed.detail))
            continue
        if size > limit:
            problems.append(
                InputProblem(
                    where,
                    "(size)",
                    f"the record encodes to {size:,} bytes of Avro; the router refuses events "
                    f"over {limit:,} bytes",
                )
            )
            continue
        on_valid(record)
    return count, problems


def parse_file(
    source: str,
    model: ModelOf[R],
    on_valid: Callable[[R], None],
    settings: Settings,
) -> tuple[int, list[InputProblem]]:
    """:func:`parse_records` over the file ``source`` (``-``: standard input)."""
    try:
        with nullcontext(sys.stdin.buffer) if source == "-" else open(source, "rb") as stream:
            return parse_records(stream, model, on_valid, settings, source)
    except OSError as error:
        raise InputError(f"{source}: cannot read: {error.strerror or error}") from None
