"""The keys a reviewer trusts: those pinned in a trusted-keys file, and every key that a
trusted key handed over to with a ``KeyRotation`` record in the log (intelbus.chain).

A trusted-keys file (``audit verify --trusted-keys FILE``) has one key per line, as
``intelbus router public-key`` prints it: ``ed25519 <base64 of the 32-byte public key>``,
then anything (the key id, by convention); blank lines and ``#`` comments are ignored. Pin
the router's first key and the rotations take you to its current one; pinning a later key
alone leaves the seals of the keys before it untrusted.

A rotation retires its old key at ``rotatedAt``: a seal the old key signs later is refused.
A key handed over twice, to two different keys, is a fork: the second is refused.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consumers.audit.log import Entry
from consumers.audit.problem import Problem
from intelbus.chain import (
    KEY_TYPE,
    ROTATION_SIGNATURE_VERSION,
    SEAL_SIGNATURE_VERSION,
    key_id,
    rotation_message,
    seal_message,
    verify_signature,
)
from intelbus.errors import IntelbusError
from intelbus.models import ChainSeal, KeyRotation
from intelbus.position import Position

__all__ = ["Keyring", "read_trusted_keys"]

MAX_FILE_BYTES = 1 << 20  # a file of trusted keys, not of anything else


def read_trusted_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """The keys pinned in ``path``, by key id; an error names the file, line and reason."""
    if not path.is_file():
        raise IntelbusError(f"{path}: no such file (the reviewer's trusted keys)")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise IntelbusError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not a trusted-keys file")
    keys: dict[str, Ed25519PublicKey] = {}
    text = path.read_bytes().decode("utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        public_key = _parse(line)
        if isinstance(public_key, str):
            raise IntelbusError(
                f"{path}:{number}: {public_key} (expected '{KEY_TYPE} <base64 of the 32-byte "
                "public key>', as `intelbus router public-key` prints it)"
            )
        keys[key_id(public_key)] = public_key
    if not keys:
        raise IntelbusError(f"{path}: no key in it; a reviewer must pin at least one")
    return keys


def _parse(line: str) -> Ed25519PublicKey | str:
    """The key of one line, or why it is not one."""
    fields = line.split()
    if fields[0] != KEY_TYPE:
        return f"key type {fields[0][:20]!r} is not {KEY_TYPE}"
    if len(fields) < 2:
        return "the key is missing"
    try:
        raw = base64.b64decode(fields[1], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        return "not the base64 of a 32-byte Ed25519 public key"


@dataclass(frozen=True)
class _Trusted:
    public_key: Ed25519PublicKey
    retired: KeyRotation | None = None  # the rotation that handed it over
    retired_by: Position | None = None


class Keyring:
    """The trusted keys after following the log's rotations; judges seals."""

    def __init__(self, pinned: dict[str, Ed25519PublicKey]) -> None:
        self._keys = {kid: _Trusted(key) for kid, key in pinned.items()}

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def follow(self, rotations: Iterable[Entry]) -> list[Problem]:
        """Trust the keys that trusted keys rotated to; the problems of the rotations."""
        waiting = sorted((e for e in rotations if e.rotation), key=lambda e: e.position)
        problems: list[Problem] = []
        progress = True
        while progress:  # a rotation may sit before the one that makes its old key trusted
            progress = False
            for entry in list(waiting):
                assert entry.rotation is not None
                if entry.rotation.previous_key_id in self._keys:
                    waiting.remove(entry)
                    problems += self._rotate(entry, entry.rotation)
                    progress = True
        problems += [
            Problem(
                e.position,
                "",
                f"key rotation signed by untrusted key {e.rotation.previous_key_id}: not pinned, "
                "and no rotation from a trusted key names it",
            )
            for e in waiting
            if e.rotation
        ]
        return problems

    def _rotate(self, entry: Entry, rotation: KeyRotation) -> list[Problem]:
        old = self._keys[rotation.previous_key_id]
        what = _rotation_problem(rotation, old.public_key)
        if what is None and old.retired is not None and old.retired.key_id != rotation.key_id:
            what = (
                f"key {rotation.previous_key_id} rotated twice: to {old.retired.key_id} at "
                f"{old.retired_by} and to {rotation.key_id} here"
            )
        if what is not None:
            return [Problem(entry.position, "", what)]
        if old.retired is None or rotation.rotated_at < old.retired.rotated_at:
            self._keys[rotation.previous_key_id] = _Trusted(
                old.public_key, rotation, entry.position
            )
        self._keys.setdefault(
            rotation.key_id, _Trusted(Ed25519PublicKey.from_public_bytes(rotation.public_key))
        )
        return []

    def judge(self, seal: ChainSeal) -> str | None:
        """Why ``seal`` is not to be trusted, or None."""
        if seal.signature_version != SEAL_SIGNATURE_VERSION:
            return (
                f"seal in signing version {seal.signature_version}, which leaves sealedAt and "
                f"keyId unsigned: only version {SEAL_SIGNATURE_VERSION} is accepted"
            )
        trusted = self._keys.get(seal.key_id)
        if trusted is None:
            return (
                f"seal signed by untrusted key {seal.key_id}: not pinned, and no rotation from "
                "a trusted key names it"
            )
        if not verify_signature(trusted.public_key, seal_message(seal.to_avro()), seal.signature):
            return "altered or forged seal: its signature does not verify"
        retired = trusted.retired
        if retired is not None and seal.sealed_at > retired.rotated_at:
            return (
                f"seal signed by key {seal.key_id} at {seal.sealed_at:%Y-%m-%d %H:%M:%S.%f}, "
                f"after its rotation to {retired.key_id} at "
                f"{retired.rotated_at:%Y-%m-%d %H:%M:%S.%f} ({trusted.retired_by})"
            )
        return None


def _rotation_problem(rotation: KeyRotation, signer: Ed25519PublicKey) -> str | None:
    if rotation.signature_version != ROTATION_SIGNATURE_VERSION:
        return f"key rotation in unknown signing version {rotation.signature_version}"
    message = rotation_message(rotation.to_avro())
    if not verify_signature(signer, message, rotation.signature):
        return (
            f"altered or forged key rotation: its signature by key {rotation.previous_key_id} "
            "does not verify"
        )
    try:
        carried = key_id(Ed25519PublicKey.from_public_bytes(rotation.public_key))
    except ValueError:
        return "the key rotation carries no Ed25519 public key"
    if carried != rotation.key_id:
        return f"the key rotation names key {rotation.key_id} but carries key {carried}"
    return None
