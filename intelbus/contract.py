"""The versions of the contract that readers accept, pinned by fingerprint.

A writer schema is accepted only when it is a version of the project's own contract whose
fingerprint (:func:`intelbus.serde.fingerprint`, SHA-256 of the Parsing Canonical Form) is
pinned in ``schemas/fingerprints.txt``, one ``<record> <fingerprint>`` line each. Every pinned
version's text is in the repository: the current one in ``schemas/avro``, earlier releases in
``schemas/released/v*/``. The registry is asked only for the text behind a schema id, to
fingerprint it; bytes are then checked (intelbus.canonical) and decoded with the
repository's text of that version, never the registry's (the canonical form drops logical
types, and fastavro takes those from the writer schema).

``intelbus schemas fingerprints --write`` regenerates the file from the texts; a test fails
while it is out of date, so what readers accept changes only as a reviewed diff. Releasing a
contract version (a ``schemas/released/vN`` folder) keeps its records readable after
``schemas/avro`` moves on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

from intelbus.canonical import Check, compile_check
from intelbus.errors import IntelbusError
from intelbus.serde import MESSAGE_TYPES, expanded_schema, fingerprint

__all__ = ["FINGERPRINTS_FILE", "Contract", "Version", "load_contract", "render", "versions"]

FINGERPRINTS_FILE = "fingerprints.txt"
CURRENT = "avro"
_HEADER = """\
# Writer schemas that the router, subscribers and audit tool accept (intelbus/contract.py):
# a record's full name and the SHA-256 of its Avro Parsing Canonical Form; after the `#`,
# where its text is. Regenerate with `intelbus schemas fingerprints --write` and review
# the diff like a schema change.
"""


@dataclass(frozen=True)
class Version:
    """One version of a message type: its parsed text and the check of its bytes."""

    record: str
    fingerprint: str
    sources: tuple[str, ...]  # "avro" (schemas/avro) and/or "released/v1", ...
    schema: Any
    check: Check


@dataclass(frozen=True)
class Contract:
    """Every version whose text the repository holds, and which of them are pinned."""

    versions: dict[str, Version]  # by fingerprint
    pinned: frozenset[str]

    def accepted(self, fingerprint: str | None) -> Version | None:
        return self.versions.get(fingerprint or "") if fingerprint in self.pinned else None


def versions(schemas_dir: Path) -> list[Version]:
    """Every message type's version in ``schemas_dir`` and in each release beside it,
    one per fingerprint (its text taken from schemas/avro when a release has the same)."""
    texts = [(CURRENT, expanded_schema(schemas_dir, m.avro_name)) for m in MESSAGE_TYPES]
    for path in sorted((schemas_dir.parent / "released").glob("v*/*.avsc")):
        texts.append((f"released/{path.parent.name}", path.read_text()))
    found: dict[str, Version] = {}
    for source, text in texts:
        schema: Any = fastavro.parse_schema(json.loads(text))
        key = fingerprint(schema)
        known = found.get(key)
        if known is None:
            found[key] = Version(schema["name"], key, (source,), schema, compile_check(schema))
        else:
            found[key] = Version(
                known.record, key, (*known.sources, source), known.schema, known.check
            )
    return sorted(found.values(), key=lambda v: (v.record, v.sources))


def render(found: list[Version]) -> str:
    """The fingerprints file pinning ``found``."""
    lines = [f"{v.record} {v.fingerprint}  # {', '.join(v.sources)}" for v in found]
    return _HEADER + "\n".join(lines) + "\n"


@cache
def load_contract(schemas_dir: Path) -> Contract:
    """The contract of ``schemas_dir``; every pinned fingerprint must have its text."""
    path = schemas_dir.parent / FINGERPRINTS_FILE
    fix = "run `intelbus schemas fingerprints --write` and review the diff"
    if not path.is_file():
        raise IntelbusError(f"{path} is missing: {fix}")
    found = {v.fingerprint: v for v in versions(schemas_dir)}
    pinned = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        version = found.get(words[-1]) if len(words) == 2 else None
        if version is None or version.record != words[0]:
            raise IntelbusError(
                f"{path}:{number}: {line.strip()!r} names no version of the contract in "
                f"{schemas_dir} or {schemas_dir.parent / 'released'}: {fix}"
            )
        pinned.add(version.fingerprint)
    return Contract(found, frozenset(pinned))
