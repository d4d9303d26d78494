"""The principals' passwords, kept under ``INTELBUS_HOME`` where only its owner can read them.

One file per principal (``<home>/secrets/<principal>.password``, mode 0600) in a directory of
mode 0700. A directory or file that anybody else may read or write is refused, never
silently used or "fixed": a secret others could read has to be treated as leaked (rotate it).
Passwords are generated here, printed only by ``intelbus access credentials``, never logged.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from intelbus.errors import IntelbusError

__all__ = [
    "SecretStore",
    "UnsafeSecrets",
    "check_private",
    "make_private_directory",
    "write_private",
]

_NAME = re.compile(r"^[a-z][a-z0-9.-]{0,63}$")
_PASSWORD_BYTES = 32


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``, atomically, the file created with ``mode`` from its
    first byte: never readable by others (whatever the umask), never half-written."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    temporary.replace(path)


class UnsafeSecrets(IntelbusError):
    """A secrets directory or file is readable or writable by others than its owner."""


_ROTATE_PASSWORD = "rotate (`intelbus access rotate PRINCIPAL`)"


def check_private(path: Path, allowed: int, remedy: str = _ROTATE_PASSWORD) -> None:
    """Refuse ``path`` if its mode allows more than ``allowed`` or another user owns it;
    ``remedy`` says how to replace what it holds, which has to be treated as leaked."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & ~allowed:
        raise UnsafeSecrets(
            f"{path} has mode {mode:04o}; secrets must be readable by their owner only "
            f"({allowed:04o}). Treat what it holds as leaked: `chmod {allowed:04o} {path}` "
            f"and {remedy}."
        )
    if path.stat().st_uid != os.getuid():
        raise UnsafeSecrets(f"{path} belongs to another user; refusing to use it")


def make_private_directory(path: Path, remedy: str = _ROTATE_PASSWORD) -> None:
    """Create ``path`` (mode 0700, whatever the umask) unless it exists; either way refuse
    it if others may use it."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        path.chmod(0o700)  # mkdir's mode passes through the umask
    check_private(path, 0o700, remedy)


class SecretStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, principal: str) -> Path:
        if not _NAME.match(principal):
            raise IntelbusError(
                f"principal {principal!r}: use lower-case letters, digits, '.' and '-'"
            )
        return self.directory / f"{principal}.password"

    def _open_directory(self, create: bool) -> None:
        if not self.directory.exists() and not create:
            raise IntelbusError(
                f"no secrets at {self.directory}: start the stack (`intelbus stack up`) or "
                "set INTELBUS_HOME to where they are"
            )
        make_private_directory(self.directory)

    def has(self, principal: str) -> bool:
        return self._file(principal).exists()

    def password(self, principal: str) -> str:
        """The principal's password; refuses files or a directory others may read."""
        self._open_directory(create=False)
        path = self._file(principal)
        if not path.exists():
            raise IntelbusError(
                f"no credentials for principal {principal!r} in {self.directory} "
                "(`intelbus access apply` creates the principals of policies/principals.yaml)"
            )
        check_private(path, 0o600)
        return path.read_text().strip()

    def create(self, principal: str) -> str:
        """Generate and keep a new password for ``principal`` (replacing any old one)."""
        self._open_directory(create=True)
        password = secrets.token_urlsafe(_PASSWORD_BYTES)
        write_private(self._file(principal), (password + "\n").encode())
        return password

    def ensure(self, principal: str) -> str:
        return self.password(principal) if self.has(principal) else self.create(principal)

    def remove(self, principal: str) -> bool:
        path = self._file(principal)
        if not path.exists():
            return False
        path.unlink()
        return True

    def principals(self) -> list[str]:
        if not self.directory.exists():
            return []
        self._open_directory(create=False)
        return sorted(path.stem for path in self.directory.glob("*.password"))
