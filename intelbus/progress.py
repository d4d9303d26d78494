"""A progress line for long work, on stderr, at most a few times a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``Progress("publishing", total).advance(n)`` prints "publishing 4,000/100,000 (12,345/s)".

    On a terminal the line is rewritten in place; elsewhere one line is printed per interval.
    """

    def __init__(
        self,
        what: str,
        total: int | None = None,
        stream: TextIO = sys.stderr,
        interval: float = 1.0,
    ) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self.stream = stream
        self.interval = interval
        self.started = time.monotonic()
        self._last_print = self.started
        self._tty = stream.isatty()

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last_print >= self.interval:
            self._last_print = now
            self._print(end="\r" if self._tty else "\n")

    def finish(self) -> float:
        """Print the final line; return the elapsed seconds."""
        self._print(end="\n")
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.started, 1e-9)

    def _print(self, end: str) -> None:
        of_total = f"/{self.total:,}" if self.total is not None else ""
        self.stream.write(f"{self.what} {self.done:,}{of_total} ({self.rate:,.0f}/s){end}")
        self.stream.flush()
