"""The router's decision-signing key on disk: owner-only, minted only when asked, never
replaced behind anyone's back.

``<keys dir>`` (mode 0700) holds ``decision-signing.key`` (Ed25519, PKCS#8 PEM, mode 0600),
the key that signs now, and, while a rotation is under way, ``decision-signing.next.key``,
the key it moves to (see services/router/keys.py). A directory or key file that others may
read is refused (intelbus.secrets), never used or "fixed": the key may have leaked.
Reviewers get public keys from ``intelbus router public-key``, not from this directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from intelbus.chain import SealSigner
from intelbus.errors import IntelbusError
from intelbus.secrets import check_private, make_private_directory

__all__ = [
    "NEXT_KEY_FILE",
    "PRIVATE_KEY_FILE",
    "KeyExists",
    "MissingKey",
    "load_public_keys",
    "load_signer",
    "mint_signer",
    "next_signer",
    "promote_next",
    "rotation_pending",
]

PRIVATE_KEY_FILE = "decision-signing.key"
NEXT_KEY_FILE = "decision-signing.next.key"
_LEAKED = (
    "rotate the key (`intelbus router rotate-key`), telling the reviewers since when it may "
    "have leaked"
)


class MissingKey(IntelbusError):
    """The key directory holds no signing key."""


class KeyExists(IntelbusError):
    """A key was to be minted where one exists already."""


def load_signer(keys_dir: Path) -> SealSigner:
    """The router's signing key; :class:`MissingKey` if there is none."""
    path = keys_dir / PRIVATE_KEY_FILE
    if not path.exists():
        raise MissingKey(f"no decision-signing key at {path}")
    return _load(keys_dir, path)


def mint_signer(keys_dir: Path) -> SealSigner:
    """A new signing key for the router, in a private directory made if needed;
    :class:`KeyExists` if it has one already (another process may have minted it first)."""
    make_private_directory(keys_dir, _LEAKED)
    return _mint(keys_dir / PRIVATE_KEY_FILE)


def next_signer(keys_dir: Path) -> SealSigner:
    """The key a rotation moves to: the one an interrupted rotation left, else a new one."""
    path = keys_dir / NEXT_KEY_FILE
    if path.exists():
        return _load(keys_dir, path)
    check_private(keys_dir, 0o700, _LEAKED)
    return _mint(path)


def rotation_pending(keys_dir: Path) -> bool:
    return (keys_dir / NEXT_KEY_FILE).exists()


def promote_next(keys_dir: Path) -> None:
    """The next key becomes the router's key, at once; the old private key is gone."""
    os.replace(keys_dir / NEXT_KEY_FILE, keys_dir / PRIVATE_KEY_FILE)


def load_public_keys(keys_dir: Path) -> dict[str, Ed25519PublicKey]:
    """The router's public key, by key id, for whoever holds its key directory (the
    operator, a demo, a test): what a reviewer pins comes from elsewhere."""
    signer = load_signer(keys_dir)
    return {signer.key_id: signer.public_key}


def _load(keys_dir: Path, path: Path) -> SealSigner:
    check_private(keys_dir, 0o700, _LEAKED)
    check_private(path, 0o600, _LEAKED)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise IntelbusError(f"{path} is not an Ed25519 private key")
    return SealSigner(key)


def _mint(path: Path) -> SealSigner:
    signer = SealSigner(Ed25519PrivateKey.generate())
    staging = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(signer.private_pem())
    try:
        os.link(staging, path)  # complete or absent, and never over a key that exists
    except FileExistsError:
        raise KeyExists(f"{path} exists already") from None
    finally:
        staging.unlink()
    return signer
