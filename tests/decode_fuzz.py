"""Crafted inbound records through the router's decode path, in a worker process that may
crash or hang without taking the caller with it.

The worker (``python -m tests.decode_fuzz``) reads each case with the router's own readers
(:class:`services.router.serdes.LaneSerdes`, against the real registry) and answers what the
reader did. The caller counts crashes (the worker died, e.g. SIGSEGV), hangs (no answer
within the deadline: the worker is killed and restarted), rejections by reason, and
accepted records that should never be: written with a foreign writer schema, or not the
canonical encoding of what was decoded (trailing bytes, padded varints, split blocks).

Cases mutate valid generated events (bit flips, truncation, trailing bytes, union and enum
index flips, huge counts, non-canonical re-encodings, many tiny items) and add records of
foreign writer schemas registered under the events' record names (extra fields, recursive,
arrays of null, deep nesting, other field types). ``bench/fuzz.py`` runs 10,000 of them;
the test suite runs a few hundred (tests/test_decode_strict.py).
"""

from __future__ import annotations

import io
import json
import os
import random
import resource
import select
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from intelbus import serde
from intelbus.models import (
    CaseOutcome,
    ChainSeal,
    Lookout,
    OfficerSafetyAlert,
    Pointer,
    PolicyDecision,
)
from intelbus.reader import ContractReader, Rejected
from intelbus.settings import Settings
from tests.avro_helpers import avro_long, framed, register_writer, schemaless
from tests.generate import alerts, lookouts

__all__ = ["Case", "Outcome", "Tally", "Worker", "crafted_cases", "fuzz"]

LANES: tuple[type[Lookout] | type[OfficerSafetyAlert], ...] = (Lookout, OfficerSafetyAlert)
HANG_S = 1.0  # a case not answered within this is a hang
_READERS_ENV = "INTELBUS_FUZZ_READERS"
_BASES = 40  # valid events per lane that the mutations start from
_HUGE = (2**31, 2**32 + 1, 2**62, 2**63 - 1, -(2**63), -1, -(2**40))


# -- the worker process -----------------------------------------------------------------


def _readers(kind: str, settings: Settings) -> list[ContractReader]:
    """The router's lane readers, a subscriber's feed reader or the audit tool's."""
    from consumers.feed import FEED_RECORDS  # noqa: PLC0415 - the worker's own imports
    from services.router.serdes import LaneSerdes  # noqa: PLC0415

    if kind == "router":
        return [LaneSerdes.create(settings, model).events for model in LANES]
    models = FEED_RECORDS if kind == "feed" else (PolicyDecision, ChainSeal)
    return [ContractReader.connect(settings, models)]


def _serve() -> None:
    """Answer cases on stdin (reader index, 4-byte length, value) with one JSON line each."""
    readers = _readers(os.environ.get(_READERS_ENV, "router"), Settings())
    source, out = sys.stdin.buffer, sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    while head := source.read(5):
        lane, length = head[0], int.from_bytes(head[1:], "big")
        value = source.read(length) or None
        answer: dict[str, Any]
        try:
            decoded = readers[lane].read(value)
        except Rejected as rejected:
            answer = {"reason": rejected.reason}
        else:
            assert value is not None
            codec = readers[lane].codec(type(decoded.record))
            canonical = codec.encode(decoded.fields)[serde.CONFLUENT_HEADER :]
            payload = value[serde.CONFLUENT_HEADER :]
            answer = {
                "reason": None,
                "canonical": payload == canonical,
                "trailing": payload != canonical and payload.startswith(canonical),
            }
        answer["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out.write(json.dumps(answer) + "\n")
        out.flush()


@dataclass(frozen=True)
class Outcome:
    kind: str  # accepted | rejected | crashed | hung
    reason: str | None = None
    canonical: bool = True
    trailing: bool = False
    seconds: float = 0.0
    signal: int | None = None


class Worker:
    """The decode path in a child process, restarted after a crash or a hang."""

    def __init__(self, settings: Settings, readers: str = "router", hang_s: float = HANG_S) -> None:
        """``readers``: router (the lanes' readers: 0 lookouts, 1 alerts), feed or audit."""
        self._env = os.environ | settings.as_env() | {_READERS_ENV: readers}
        self._hang_s = hang_s
        self._process: subprocess.Popen[bytes] | None = None
        self.max_rss_kb = 0

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, lane: int, value: bytes | None) -> Outcome:
        process = self._started()
        assert process.stdin is not None
        data = value or b""
        started = time.perf_counter()
        try:
            process.stdin.write(bytes([lane]) + len(data).to_bytes(4, "big") + data)
            process.stdin.flush()
        except BrokenPipeError:
            return self._crashed(started)
        line = self._answer(process, self._hang_s)
        seconds = time.perf_counter() - started
        if line is None:
            self.close()
            return Outcome("hung", seconds=seconds)
        if not line:
            return self._crashed(started)
        answer = json.loads(line)
        self.max_rss_kb = max(self.max_rss_kb, answer["rss_kb"])
        if answer["reason"] is not None:
            return Outcome("rejected", answer["reason"], seconds=seconds)
        return Outcome(
            "accepted",
            canonical=answer["canonical"],
            trailing=answer["trailing"],
            seconds=seconds,
        )

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.decode_fuzz"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self._env,
            )
            ready = self._answer(self._process, 60.0)
            if not ready:
                raise RuntimeError("the decode worker did not start")
        return self._process

    @staticmethod
    def _answer(process: subprocess.Popen[bytes], timeout: float) -> bytes | None:
        """One line from the worker; b"" when it died; None when it did not answer in time."""
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], timeout)
        if not readable:
            return None
        return process.stdout.readline()

    def _crashed(self, started: float) -> Outcome:
        assert self._process is not None
        code = self._process.wait()
        self._process = None
        return Outcome(
            "crashed",
            seconds=time.perf_counter() - started,
            signal=-code if code < 0 else None,
        )


# -- the cases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    mutation: str
    lane: int
    value: bytes | None
    foreign: bool = False  # written with a writer schema that is not the contract's


@dataclass
class Tally:
    cases: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    accepted_foreign: list[str] = field(default_factory=list)
    accepted_trailing: list[str] = field(default_factory=list)
    accepted_non_canonical: list[str] = field(default_factory=list)
    by_mutation: Counter[str] = field(default_factory=Counter)
    slowest_s: float = 0.0
    max_rss_mb: float = 0.0

    def add(self, case: Case, outcome: Outcome) -> None:
        self.cases += 1
        self.by_mutation[case.mutation] += 1
        self.slowest_s = max(self.slowest_s, outcome.seconds)
        if outcome.kind == "crashed":
            self.crashes.append(f"{case.mutation} (signal {outcome.signal})")
        elif outcome.kind == "hung":
            self.hangs.append(case.mutation)
        elif outcome.kind == "rejected":
            self.rejected[outcome.reason or "?"] += 1
        else:
            self.accepted += 1
            if case.foreign:
                self.accepted_foreign.append(case.mutation)
            if outcome.trailing:
                self.accepted_trailing.append(case.mutation)
            elif not outcome.canonical:
                self.accepted_non_canonical.append(case.mutation)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "accepted": self.accepted,
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "crashes": len(self.crashes),
            "hangs_over_1s": len(self.hangs),
            "accepted_foreign_schema": len(self.accepted_foreign),
            "accepted_trailing_bytes": len(self.accepted_trailing),
            "accepted_non_canonical": len(self.accepted_non_canonical),
            "slowest_case_ms": round(self.slowest_s * 1000, 1),
            "max_rss_mb": round(self.max_rss_mb, 1),
            "cases_by_mutation": dict(sorted(self.by_mutation.items())),
            "examples": {
                "crashes": self.crashes[:5],
                "hangs": self.hangs[:5],
                "accepted_foreign": self.accepted_foreign[:5],
                "accepted_trailing": self.accepted_trailing[:5],
                "accepted_non_canonical": self.accepted_non_canonical[:5],
            },
        }


class _Loose:
    """Avro binary with the encoder's freedoms taken at random: padded varints, arrays in
    several blocks or with negative (sized) block counts, booleans other than 0 and 1. The
    schema is a Parsing Canonical Form (no logical types), the datum read with it."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        self._rng = rng
        self._rate = rate

    def encode(self, schema: Any, datum: Any) -> bytes:
        out = bytearray()
        self._value(schema, datum, out, {})
        return bytes(out)

    def _loose(self) -> bool:
        return self._rng.random() < self._rate

    def _long(self, value: int, out: bytearray) -> None:
        encoded = bytearray(avro_long(value))
        if self._loose():
            encoded[-1] |= 0x80
            encoded += b"\x80" * self._rng.randint(0, 2) + b"\x00"
        out += encoded

    def _value(self, schema: Any, datum: Any, out: bytearray, names: dict[str, Any]) -> None:
        if isinstance(schema, str):
            schema = names.get(schema, schema)
        if isinstance(schema, list):
            branch = 0 if datum is None else next(i for i, s in enumerate(schema) if s != "null")
            self._long(branch, out)
            self._value(schema[branch], datum, out, names)
            return
        kind = schema if isinstance(schema, str) else schema["type"]
        if isinstance(schema, dict) and "name" in schema:
            names[schema["name"]] = schema
        if kind == "null":
            return
        if kind == "boolean":
            out.append(self._rng.randint(2, 255) if datum and self._loose() else int(datum))
        elif kind in ("int", "long"):
            self._long(datum, out)
        elif kind == "double":
            out += struct.pack("<d", datum)
        elif kind in ("string", "bytes"):
            data = datum.encode() if isinstance(datum, str) else datum
            self._long(len(data), out)
            out += data
        elif kind == "enum":
            self._long(schema["symbols"].index(datum), out)
        elif kind == "record":
            for item in schema["fields"]:
                self._value(item["type"], datum[item["name"]], out, names)
        elif kind == "array":
            self._array(schema["items"], datum, out, names)
        else:
            raise ValueError(f"no loose encoding of {kind}")

    def _array(self, items: Any, datum: list[Any], out: bytearray, names: dict[str, Any]) -> None:
        blocks: list[list[Any]] = []
        rest = list(datum)
        while rest:
            size = self._rng.randint(1, len(rest)) if self._loose() else len(rest)
            blocks.append(rest[:size])
            rest = rest[size:]
        for block in blocks:
            body = bytearray()
            for item in block:
                self._value(items, item, body, names)
            if self._loose():
                self._long(-len(block), out)
                self._long(len(body), out)
            else:
                self._long(len(block), out)
            out += body
        self._long(0, out)


# Foreign writer schemas, each under one of the events' record names.
def _foreign_schemas(contract: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def named(fields: list[dict[str, Any]]) -> dict[str, Any]:
        return {"type": "record", "name": "Lookout", "namespace": "intelbus", "fields": fields}

    deep: Any = "long"
    for depth in range(60):
        deep = {"type": "record", "name": f"Level{depth}", "fields": [{"name": "x", "type": deep}]}
    nested_arrays: Any = "long"
    for _ in range(30):
        nested_arrays = {"type": "array", "items": nested_arrays}
    newer = json.loads(
        json.dumps(contract).replace('"NOFORN", "UNKNOWN"', '"NOFORN", "PROPIN", "UNKNOWN"')
    )
    return {
        "extra-field": {
            **contract,
            "fields": [*contract["fields"], {"name": "smuggled", "type": "string"}],
        },
        "recursive": named(
            [{"name": "next", "type": ["null", "intelbus.Lookout"]}, {"name": "x", "type": "long"}]
        ),
        "array-of-null": named([{"name": "items", "type": {"type": "array", "items": "null"}}]),
        "deep-nesting": named([{"name": "inner", "type": deep}]),
        "nested-arrays": named([{"name": "inner", "type": nested_arrays}]),
        "other-types": named(
            [{"name": "eventId", "type": "long"}, {"name": "version", "type": "string"}]
        ),
        "newer-unpinned": newer,
    }


class _Crafter:
    """Builds cases from valid events and the registered foreign writer schemas."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        self.rng = rng
        client = serde.registry_client(settings)
        self.own: list[int] = []
        self.schemas: list[Any] = []
        self.canonical: list[Any] = []
        self.bases: list[list[bytes]] = []
        for model, events in (
            (Lookout, list(lookouts(_BASES, seed=rng.randrange(2**31)))),
            (OfficerSafetyAlert, list(alerts(_BASES, seed=rng.randrange(2**31)))),
        ):
            codec = serde.FastCodec.registered(client, model, settings.schemas_dir)
            self.own.append(codec.schema_id)
            self.schemas.append(codec.schema)
            self.canonical.append(
                fastavro.parse_schema(json.loads(to_parsing_canonical_form(codec.schema)))
            )
            self.bases.append([codec.encode(e.to_avro())[5:] for e in events])
        self.other_ids = [
            serde.FastCodec.registered(client, model, settings.schemas_dir).schema_id
            for model in (Pointer, CaseOutcome)
        ]
        self.max_bytes = settings.max_event_bytes
        contract = json.loads(serde.expanded_schema(settings.schemas_dir, "intelbus.Lookout"))
        self.foreign = {
            name: register_writer(client, schema, f"fuzz-{name}")
            for name, schema in _foreign_schemas(contract).items()
        }

    def case(self) -> Case:
        mutation = self.rng.choice(list(_MUTATIONS))
        return _MUTATIONS[mutation](self, mutation)

    # helpers
    def base(self) -> tuple[int, bytes]:
        lane = self.rng.randrange(len(LANES))
        return lane, self.rng.choice(self.bases[lane])

    def own_case(self, mutation: str, lane: int, payload: bytes) -> Case:
        return Case(mutation, lane, framed(self.own[lane], payload))

    def position(self, payload: bytes, wanted: Callable[[int], bool] = lambda b: True) -> int:
        spots = [i for i, b in enumerate(payload) if wanted(b)] or [0]
        return self.rng.choice(spots)


def _valid(c: _Crafter, mutation: str) -> Case:
    lane, payload = c.base()
    return c.own_case(mutation, lane, payload)


def _bit_flips(c: _Crafter, mutation: str) -> Case:
    lane, payload = c.base()
    data = bytearray(payload)
    for _ in range(c.rng.randint(1, 4)):
        data[c.rng.randrange(len(data))] ^= 1 << c.rng.randrange(8)
    return c.own_case(mutation, lane, bytes(data))


def _truncation(c: _Crafter, mutation: str) -> Case:
    lane, payload = c.base()
    return c.own_case(mutation, lane, payload[: c.rng.randrange(len(payload))])


def _trailing(c: _Crafter, mutation: str) -> Case:
    lane, payload = c.base()
    extra = c.rng.choice(
        [
            bytes(c.rng.randrange(256) for _ in range(c.rng.randint(1, 64))),
            c.rng.choice(c.bases[0]),  # a whole lookout, PNR and all
            b"\x00",
        ]
    )
    return c.own_case(mutation, lane, payload + extra)


def _union_flip(c: _Crafter, mutation: str) -> Case:
    lane, payload = c.base()
    at = c.position(payload, lambda b: b in (0, 2))
    data = bytearray(payload)
    data[at] ^= 2
    return c.own_case(mutation, lane, bytes(data))


def _enum_index(c: _Crafter, mutation: str) -> Case:
    lane, payload = c.base()
    at = c.position(payload, lambda b: b < 0x20)
    data = bytearray(payload)
    data[at] = 2 * c.rng.randrange(16)
    return c.own_case(mutation, lane, bytes(data))


def _huge_count(c: _Crafter, mutation: str) -> Case:
    lane, payload = c.base()
    at = c.position(payload, lambda b: b < 0x80)
    huge = avro_long(c.rng.choice(_HUGE))
    return c.own_case(mutation, lane, payload[:at] + huge + payload[at + 1 :])


def _padded_varint(c: _Crafter, mutation: str) -> Case:
    lane, payload = c.base()
    at = c.position(payload, lambda b: b < 0x80)
    padded = bytes([payload[at] | 0x80]) + b"\x80" * c.rng.randint(0, 3) + b"\x00"
    return c.own_case(mutation, lane, payload[:at] + padded + payload[at + 1 :])


def _loose_encoding(c: _Crafter, mutation: str) -> Case:
    lane, payload = c.base()
    datum = fastavro.schemaless_reader(io.BytesIO(payload), c.canonical[lane], None)
    loose = _Loose(c.rng, c.rng.choice([0.02, 0.1, 0.5])).encode(c.canonical[lane], datum)
    return c.own_case(mutation, lane, loose)


def _many_items(c: _Crafter, mutation: str) -> Case:
    """A lookout whose vehicles (4 bytes each: four nulls) fill up to the size limit."""
    payload = c.rng.choice(c.bases[0])
    datum: Any = fastavro.schemaless_reader(io.BytesIO(payload), c.canonical[0], None)
    count = c.rng.choice([20_000, 100_000, (c.max_bytes - len(payload)) // 4 - 16])
    vehicle = {"plate": None, "plateJurisdiction": None, "vin": None, "description": None}
    datum["subjects"]["vehicles"] = [vehicle] * count
    return c.own_case(mutation, 0, schemaless(c.canonical[0], datum))


def _header(c: _Crafter, mutation: str) -> Case:
    lane, payload = c.base()
    value = c.rng.choice(
        [
            b"\x01" + c.own[lane].to_bytes(4, "big") + payload,
            framed(c.rng.randrange(10**6, 2**31), payload),
            framed(c.rng.choice(c.other_ids), payload),
            framed(c.own[lane], payload + bytes(c.max_bytes)),
            b"\x00\x00",
            b"",
        ]
    )
    return Case(mutation, lane, value)


def _foreign(c: _Crafter, mutation: str) -> Case:
    name = c.rng.choice(list(c.foreign))
    schema_id = c.foreign[name]
    if name == "extra-field":
        payload = c.rng.choice(c.bases[0]) + schemaless("string", "smuggled: " + "x" * 40)
    elif name == "recursive":
        depth = c.rng.choice([100, 5_000, 20_000, 60_000])
        payload = b"\x02" * depth + b"\x00" + b"\x00" * (depth + 1)
    elif name == "array-of-null":
        payload = avro_long(c.rng.choice([2**62, 2**40, 10**9])) + b"\x00" * 200
    elif name == "nested-arrays":
        payload = b"\x02" * 30 + b"\x02" + b"\x00" * 31
    elif name == "newer-unpinned":
        payload = c.rng.choice(c.bases[0])
    else:
        payload = bytes(c.rng.randrange(256) for _ in range(c.rng.randint(1, 300)))
    return Case(f"foreign/{name}", 0, framed(schema_id, payload[: c.max_bytes]), foreign=True)


_MUTATIONS: dict[str, Callable[[_Crafter, str], Case]] = {
    "valid": _valid,
    "bit-flips": _bit_flips,
    "truncation": _truncation,
    "trailing-bytes": _trailing,
    "union-index-flip": _union_flip,
    "enum-index": _enum_index,
    "huge-count": _huge_count,
    "padded-varint": _padded_varint,
    "loose-encoding": _loose_encoding,
    "many-tiny-items": _many_items,
    "header": _header,
    "foreign-schema": _foreign,
}


def crafted_cases(settings: Settings, count: int, seed: int) -> Iterator[Case]:
    """``count`` cases, the same for the same seed (foreign schemas get fresh ids)."""
    crafter = _Crafter(settings, random.Random(seed))
    for _ in range(count):
        yield crafter.case()


def fuzz(
    settings: Settings,
    count: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> Tally:
    tally = Tally()
    with Worker(settings) as worker:
        for index, case in enumerate(crafted_cases(settings, count, seed)):
            tally.add(case, worker.read(case.lane, case.value))
            if progress and (index + 1) % 1000 == 0:
                progress(index + 1)
        tally.max_rss_mb = worker.max_rss_kb / 1024
    return tally


if __name__ == "__main__":
    _serve()
