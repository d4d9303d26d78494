"""The decision log's tamper evidence: hash chains of decisions, sealed with signatures.

Design. Decisions about events of one inbound topic partition form one chain: that partition
is owned by exactly one router at a time (consumer group), so a chain has one writer, and
its head is committed with the consumed offsets (offset-commit metadata) in the same Kafka
transaction as the decisions, so a restarted router continues exactly where the committed
log ends. Each decision carries ``sequence`` (0, 1, 2, ... with no gaps), ``previousHash``
and ``hash`` = sha256 of its canonical JSON without ``hash``. A chain id names the partition
and the input offset where the chain began (``lookouts/3@0``).

A hash chain alone cannot tell a forged record appended by someone who can write to the
topic from an honest one, so every transaction also appends, per chain it touched, a
``ChainSeal``: the head's sequence and hash and the previous seal's head hash, signed with
the router's Ed25519 key. The signature covers every field of the seal but itself (signing
message v2: ``intelbus-seal-v2`` and the seal's canonical JSON). A verifier walks back from
each valid seal to the previous one; every decision on such a path is authentic, and
anything else (an unsealed, forged or altered record, or a gap) is reported with its topic,
partition and offset. The chain heads the router commits, and the seals a reviewer keeps
(consumers/audit), show a log cut short.

A new signing key is announced in the log itself: a ``KeyRotation`` record names the new
public key and is signed by the key it replaces (``intelbus-key-rotation-v1``); all of them
carry the Kafka key :data:`ROTATION_KEY`, so one partition keeps them in order.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "GENESIS",
    "KEY_TYPE",
    "ROTATION_KEY",
    "ROTATION_SIGNATURE_VERSION",
    "SEAL_SIGNATURE_VERSION",
    "ChainHead",
    "SealSigner",
    "decision_hash",
    "key_id",
    "public_key_line",
    "raw_public_key",
    "rotation_message",
    "seal_message",
    "verify_signature",
]

GENESIS = "0" * 64
SEAL_SIGNATURE_VERSION = 2  # 1 (retired) signed neither sealedAt nor keyId
ROTATION_SIGNATURE_VERSION = 1
ROTATION_KEY = b"key-rotation"
KEY_TYPE = "ed25519"


def _canonical(
    record: Mapping[str, Any], left_out: str, time: str, raw: tuple[str, ...] = ()
) -> bytes:
    """The record's canonical JSON without ``left_out``: UTF-8, keys sorted, no spaces, the
    ``time`` field as ISO 8601 UTC with milliseconds ("2026-11-23T12:00:00.000Z"), ``raw``
    bytes fields as hex. (Fields named, not found by type: this is the router's hot path.)"""
    body = dict(record)
    body.pop(left_out, None)
    body[time] = _iso_millis(body[time])
    for name in raw:
        body[name] = body[name].hex()
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def decision_hash(decision: Mapping[str, Any]) -> str:
    """sha256 (hex) of the decision's canonical JSON, ``hash`` left out."""
    return hashlib.sha256(_canonical(decision, "hash", "decidedAt")).hexdigest()


def seal_message(seal: Mapping[str, Any]) -> bytes:
    """What a seal's signature covers: every field (wire names) but the signature."""
    return b"intelbus-seal-v2\n" + _canonical(seal, "signature", "sealedAt")


def rotation_message(rotation: Mapping[str, Any]) -> bytes:
    """What a key rotation's signature covers: every field (wire names) but the signature."""
    return b"intelbus-key-rotation-v1\n" + _canonical(
        rotation, "signature", "rotatedAt", raw=("publicKey",)
    )


@functools.lru_cache(maxsize=64)  # one event's decisions share one decision time
def _iso_millis(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


@dataclass(frozen=True)
class ChainHead:
    """Where a chain stands: the next sequence to write and the hash to link it to."""

    chain: str
    next_sequence: int
    head_hash: str

    def to_metadata(self) -> str:
        return json.dumps(
            {"chain": self.chain, "next": self.next_sequence, "head": self.head_hash},
            separators=(",", ":"),
        )

    @classmethod
    def from_metadata(cls, metadata: str | None, default_chain: str) -> ChainHead:
        """The head committed with the offsets, or a new chain when there is none."""
        if metadata:
            data = json.loads(metadata)
            return cls(data["chain"], int(data["next"]), data["head"])
        return cls(default_chain, 0, GENESIS)


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()[:16]


def public_key_line(public_key: Ed25519PublicKey) -> str:
    """The key as a line of a reviewer's trusted-keys file: type, base64 key, key id."""
    encoded = base64.b64encode(raw_public_key(public_key)).decode()
    return f"{KEY_TYPE} {encoded} {key_id(public_key)}"


class SealSigner:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def verify_signature(public_key: Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
