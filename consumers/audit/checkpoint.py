"""A reviewer's checkpoint of the decision log, kept outside the topic: the last verified seal
of every chain, as the router signed it.

Like a Certificate Transparency client that keeps the last signed tree head it verified and
requires every later one to be consistent with it (RFC 9162, Trillian's log clients),
``audit verify --checkpoint FILE`` turns each seal of the file into an anchor the log must
still hold (consumers/audit/anchors.py). The seals are verified with the reviewer's trusted
keys before use, so the file cannot be forged, only lost or rolled back, and the log must
then be just as long as it was. After a verify that found no problem the file is replaced
(atomically) by the log's latest seals; a first run creates it.

The file is JSON: ``format``, the decisions ``topic``, ``writtenAt`` and ``seals``, each a
ChainSeal by its Avro field names (``signature`` in URL-safe base64).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from consumers.audit.anchors import Anchor
from intelbus.errors import IntelbusError
from intelbus.models import ChainSeal
from intelbus.secrets import write_private

__all__ = ["load_checkpoint", "save_checkpoint"]

MAX_FILE_BYTES = 64 << 20  # a seal is ~350 bytes: room for ~190,000 chains


class _Seal(ChainSeal):
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")


class _Checkpoint(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, ser_json_bytes="base64", val_json_bytes="base64"
    )
    format: Literal["intelbus-audit-checkpoint-v1"] = "intelbus-audit-checkpoint-v1"
    topic: str
    written_at: AwareDatetime = Field(alias="writtenAt")
    seals: list[_Seal]


def load_checkpoint(path: Path, topic: str) -> list[Anchor]:
    """The anchors of the checkpoint at ``path`` (none if it does not exist yet)."""
    if not path.exists():
        return []
    if path.stat().st_size > MAX_FILE_BYTES:
        raise IntelbusError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not a checkpoint")
    try:
        checkpoint = _Checkpoint.model_validate_json(path.read_bytes())
    except ValidationError as error:
        problems = [
            f"{path}: {'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}"
            for e in error.errors()[:10]
        ]
        raise IntelbusError(
            "not a checkpoint of the decision log:\n" + "\n".join(problems)
        ) from None
    if checkpoint.topic != topic:
        raise IntelbusError(f"{path} is a checkpoint of {checkpoint.topic}, not of {topic}")
    written = f"{checkpoint.written_at:%Y-%m-%d %H:%M:%S}"
    return [
        Anchor(
            seal.chain,
            seal.sequence,
            seal.head_hash,
            f"checkpoint {path} (written {written} UTC)",
            seal,
        )
        for seal in checkpoint.seals
    ]


def save_checkpoint(path: Path, topic: str, seals: Iterable[ChainSeal]) -> None:
    checkpoint = _Checkpoint(
        topic=topic,
        written_at=dt.datetime.now(dt.UTC),
        seals=[_Seal.model_validate(seal.to_avro()) for seal in seals],
    )
    # Atomic: a crash leaves the old checkpoint or the new one, never half of one.
    write_private(path, checkpoint.model_dump_json(by_alias=True, indent=2).encode() + b"\n")
