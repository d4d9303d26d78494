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
the router's Ed25519 key. A verifier walks back from each valid seal to the previous one;
every decision on such a path is authentic, and anything else (an unsealed, forged or
altered record, or a gap) is reported with its topic, partition and offset.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "GENESIS",
    "ChainHead",
    "SealSigner",
    "decision_hash",
    "key_id",
    "load_public_keys",
    "load_signer",
    "seal_message",
    "verify_seal",
]

GENESIS = "0" * 64
PRIVATE_KEY_FILE = "decision-signing.key"
PUBLIC_KEY_SUFFIX = ".pub"


# The decision record's only timestamp (intelbus.PolicyDecision).
_TIME_FIELDS = ("decidedAt",)


def decision_hash(decision: dict[str, Any]) -> str:
    """sha256 (hex) of the decision's canonical JSON, ``hash`` left out: UTF-8, keys sorted,
    no spaces, times as ISO 8601 UTC with milliseconds ("2026-11-23T12:00:00.000Z")."""
    body = dict(decision)
    body.pop("hash", None)
    for name in _TIME_FIELDS:
        body[name] = _iso_millis(body[name])
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


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


def seal_message(chain: str, sequence: int, head_hash: str, previous_seal_hash: str) -> bytes:
    return f"intelbus-seal-v1|{chain}|{sequence}|{head_hash}|{previous_seal_hash}".encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class SealSigner:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.key_id = key_id(private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def load_signer(keys_dir: Path) -> SealSigner:
    """The router's signing key, created on first use (private file, mode 0600), with its
    public key written beside it as ``<key id>.pub`` for reviewers."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    private_path = keys_dir / PRIVATE_KEY_FILE
    if not private_path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        staging = private_path.with_suffix(f".{os.getpid()}.tmp")
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        try:
            os.link(staging, private_path)  # fails if another router created it first
        except FileExistsError:
            pass
        finally:
            staging.unlink()
    private_key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    assert isinstance(private_key, Ed25519PrivateKey)
    public_key = private_key.public_key()
    public_path = keys_dir / f"{key_id(public_key)}{PUBLIC_KEY_SUFFIX}"
    if not public_path.exists():
        public_path.write_bytes(
            public_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return SealSigner(private_key)


def load_public_keys(keys_dir: Path) -> dict[str, Ed25519PublicKey]:
    """Every ``*.pub`` key in ``keys_dir``, by key id."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in sorted(keys_dir.glob(f"*{PUBLIC_KEY_SUFFIX}")):
        public_key = serialization.load_pem_public_key(path.read_bytes())
        if isinstance(public_key, Ed25519PublicKey):
            keys[key_id(public_key)] = public_key
    return keys


def verify_seal(public_key: Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
