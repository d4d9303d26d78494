"""Untrusted Avro bytes checked against a pinned writer schema before fastavro decodes them:
within bounds, in their one canonical encoding, with nothing after the record.

fastavro trusts its input: it loops over whatever block count the bytes declare, turns every
item into Python objects (1 MiB of tiny items cost ~350 MB), and many encodings decode to
the same record (padded varints, arrays in several blocks or with negative, sized counts,
booleans other than 0 and 1, bytes after the record), so the decoded record would not say
what the bytes carry. :func:`compile_check` turns a schema into a walk over the bytes that
builds nothing and raises :class:`Malformed` with a stable reason:

- ``undecodable``: the bytes end inside a value, or hold a length, count, union branch,
  enum index, int or long that the schema cannot have;
- ``non-canonical``: anything fastavro's writer would have written otherwise, so bytes that
  pass are exactly the encoding of the record they decode to;
- ``trailing-bytes``: bytes after the record;
- ``too-many-items``: more than :data:`MAX_ITEMS` array items in one message.

Nesting needs no limit of its own: compiling refuses a recursive schema, so the depth is the
schema's. It also refuses array items that can take no bytes, so every count is checked
against the bytes left before anything loops. Only what the contract uses is supported:
unions of null and one other type (the only unions whose branch the writer picks without
ambiguity), no maps, fixed or floats; compiling says so when a schema needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["MAX_ITEMS", "Check", "Malformed", "UnsupportedSchema", "compile_check"]

# Array items in one message, across all its arrays: far above any real event (a lookout has
# a few subjects, a PNR some dozens of lines), far below what 1 MiB of tiny items would hold.
MAX_ITEMS = 10_000

_INT = 2**31
_LONG = 2**63
_PRIMITIVES = {"null", "boolean", "int", "long", "double", "string", "bytes"}

# A compiled schema: (bytes, position, items budget left) -> the position after the value.
_Step = Callable[[bytes, int, list[int]], int]
Check = Callable[[bytes], None]


class Malformed(ValueError):
    """The bytes are not the canonical encoding of a record of the schema; ``reason`` is a
    stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class UnsupportedSchema(ValueError):
    """A schema the check cannot prove canonical encodings for."""


def compile_check(schema: Any) -> Check:
    """The check of a record's bytes against ``schema`` (as fastavro.parse_schema returns it)."""
    step, _ = _Compiler().compile(schema)

    def check(payload: bytes) -> None:
        try:
            end = step(payload, 0, [MAX_ITEMS])
        except IndexError:  # a read past the end: cheaper than testing every position
            raise Malformed("undecodable", "the bytes end inside a value") from None
        if end != len(payload):
            raise Malformed("trailing-bytes", f"{len(payload) - end} bytes after the record")

    return check


def _varint(data: bytes, pos: int, max_bytes: int) -> tuple[int, int]:
    """The zig-zag varint at ``pos``, which must be in its shortest form, and where it ends."""
    byte = data[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    raw, shift, end = byte & 0x7F, 7, pos + max_bytes
    pos += 1
    while True:
        byte = data[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        if pos >= end:
            raise Malformed("undecodable", f"a varint longer than {max_bytes} bytes")
        shift += 7
    if byte == 0:
        raise Malformed("non-canonical", "a varint padded with a zero byte")
    return (raw >> 1) ^ -(raw & 1), pos


def _null(data: bytes, pos: int, budget: list[int]) -> int:
    return pos


def _boolean(data: bytes, pos: int, budget: list[int]) -> int:
    if data[pos] > 1:
        raise Malformed("non-canonical", f"a boolean written as {data[pos]}")
    return pos + 1


def _int(data: bytes, pos: int, budget: list[int]) -> int:
    value, pos = _varint(data, pos, 5)
    if not -_INT <= value < _INT:
        raise Malformed("undecodable", f"{value} is out of an int's range")
    return pos


def _long(data: bytes, pos: int, budget: list[int]) -> int:
    value, pos = _varint(data, pos, 10)
    if not -_LONG <= value < _LONG:
        raise Malformed("undecodable", f"{value} is out of a long's range")
    return pos


def _double(data: bytes, pos: int, budget: list[int]) -> int:
    if pos + 8 > len(data):
        raise Malformed("undecodable", "the bytes end inside a double")
    return pos + 8


def _sized(data: bytes, pos: int, budget: list[int]) -> int:
    """A string or bytes: its length, then that many bytes (UTF-8 is fastavro's to check)."""
    length = data[pos]
    if length < 0x80:  # the common case inline: a fifth of the check's time
        length, pos = (length >> 1) ^ -(length & 1), pos + 1
    else:
        length, pos = _varint(data, pos, 10)
    if length < 0 or pos + length > len(data):
        raise Malformed("undecodable", f"a length of {length} with {len(data) - pos} bytes left")
    return pos + length


# Each primitive's step and the fewest bytes it takes.
_PRIMITIVE_STEPS: dict[str, tuple[_Step, int]] = {
    "null": (_null, 0),
    "boolean": (_boolean, 1),
    "int": (_int, 1),
    "long": (_long, 1),
    "double": (_double, 8),
    "string": (_sized, 1),
    "bytes": (_sized, 1),
}


class _Compiler:
    def __init__(self) -> None:
        self._named: dict[str, tuple[_Step, int]] = {}
        self._open: set[str] = set()  # records being compiled: a reference to one recurses

    def compile(self, schema: Any) -> tuple[_Step, int]:
        """The step of ``schema`` and the fewest bytes a value of it takes."""
        if isinstance(schema, list):
            return self._union(schema)
        if isinstance(schema, str):
            if schema in self._open:
                raise UnsupportedSchema(f"{schema} is recursive")
            if schema in self._named:
                return self._named[schema]
            if schema in _PRIMITIVES:
                return _PRIMITIVE_STEPS[schema]
            raise UnsupportedSchema(f"Avro {schema} is not supported")
        kind = schema["type"]
        if isinstance(kind, (dict, list)):
            return self.compile(kind)
        if kind == "record":
            return self._record(schema)
        if kind == "enum":
            return self._enum(schema)
        if kind == "array":
            return self._array(schema)
        return self.compile(kind)  # a primitive with attributes (a logical type)

    def _record(self, schema: dict[str, Any]) -> tuple[_Step, int]:
        name = schema["name"]
        self._open.add(name)
        fields = [self.compile(field["type"]) for field in schema["fields"]]
        self._open.discard(name)
        steps = tuple(step for step, _ in fields)

        def record(data: bytes, pos: int, budget: list[int]) -> int:
            for step in steps:
                pos = step(data, pos, budget)
            return pos

        self._named[name] = (record, sum(least for _, least in fields))
        return self._named[name]

    def _enum(self, schema: dict[str, Any]) -> tuple[_Step, int]:
        name, symbols = schema["name"], len(schema["symbols"])

        def enum(data: bytes, pos: int, budget: list[int]) -> int:
            index, pos = _varint(data, pos, 5)
            if not 0 <= index < symbols:
                raise Malformed("undecodable", f"{name} has no symbol {index}")
            return pos

        self._named[name] = (enum, 1)
        return self._named[name]

    def _array(self, schema: dict[str, Any]) -> tuple[_Step, int]:
        item, least = self.compile(schema["items"])
        if least == 0:
            raise UnsupportedSchema("array items that take no bytes (any count would fit)")

        def array(data: bytes, pos: int, budget: list[int]) -> int:
            count, pos = _varint(data, pos, 10)
            if count == 0:
                return pos
            if count < 0:
                raise Malformed("non-canonical", "an array block with a negative, sized count")
            if count * least > len(data) - pos:
                raise Malformed("undecodable", f"{count} items in {len(data) - pos} bytes")
            budget[0] -= count
            if budget[0] < 0:
                raise Malformed("too-many-items", f"more than {MAX_ITEMS:,} array items")
            for _ in range(count):
                pos = item(data, pos, budget)
            if data[pos] != 0:
                raise Malformed("non-canonical", "an array in more than one block")
            return pos + 1

        return array, 1

    def _union(self, branches: list[Any]) -> tuple[_Step, int]:
        if len(branches) != 2 or branches.count("null") != 1:
            raise UnsupportedSchema(f"a union other than null and one type: {branches}")
        null = branches.index("null")
        other, _ = self.compile(branches[1 - null])

        null_byte, other_byte = 2 * null, 2 * (1 - null)  # the zig-zag encoded branches

        def union(data: bytes, pos: int, budget: list[int]) -> int:
            byte = data[pos]
            if byte == null_byte:
                return pos + 1
            if byte == other_byte:
                return other(data, pos + 1, budget)
            branch, _ = _varint(data, pos, 5)  # not a branch: say what it is
            raise Malformed("undecodable", f"union branch {branch} of 2")

        return union, 1
