"""Who may use the console: the reviewer, with the console's own generated password.

The password lives in the console's directory (``password``, mode 0600, in a directory of
mode 0700, read with ``intelbus console password``); the server keeps only its scrypt hash
and compares hashes in constant time. A login opens a session: a random token in an
HttpOnly, SameSite=Strict cookie, with its own CSRF token that every form posts back.
Failed logins are limited per client address."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from intelbus.secrets import check_private, write_private

__all__ = ["SESSION_COOKIE", "Credential", "LoginLimiter", "Session", "Sessions"]

SESSION_COOKIE = "intelbus_console"
_REMEDY = "delete it and run `intelbus console password` for a new one"


class Credential:
    """The console's password: made on first use, hashed for comparing."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "password"

    def password(self) -> str:
        if not self.path.exists():
            write_private(self.path, (secrets.token_urlsafe(24) + "\n").encode())
        check_private(self.path, 0o600, _REMEDY)
        return self.path.read_text().strip()

    def verifier(self) -> Verifier:
        return Verifier(self.password())


class Verifier:
    """Checks a password against the scrypt hash of the right one (the plain one is not kept)."""

    def __init__(self, password: str) -> None:
        self._salt = secrets.token_bytes(16)
        self._hash = self._derive(password)

    def _derive(self, password: str) -> bytes:
        return hashlib.scrypt(password.encode(), salt=self._salt, n=2**14, r=8, p=1)

    def check(self, password: str) -> bool:
        return hmac.compare_digest(self._derive(password[:1024]), self._hash)


@dataclass
class Session:
    principal: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    expires: float = 0.0


class Sessions:
    """Sessions in memory: a restart of the console logs everybody out."""

    def __init__(self, lifetime_s: float = 8 * 3600) -> None:
        self.lifetime_s = lifetime_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, principal: str) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(principal, expires=time.monotonic() + self.lifetime_s)
        with self._lock:
            self._sessions[token] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is not None and session.expires < time.monotonic():
                del self._sessions[token]
                return None
            return session

    def close(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)


class LoginLimiter:
    """At most ``attempts`` failed logins per client address in ``window_s`` seconds."""

    def __init__(self, attempts: int = 5, window_s: float = 300.0) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(client, []) if now - t < self.window_s]
        self._failures[client] = recent
        return recent

    def wait_s(self, client: str) -> int:
        """Seconds before ``client`` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(client, now)
            if len(recent) < self.attempts:
                return 0
            return int(recent[0] + self.window_s - now) + 1

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
