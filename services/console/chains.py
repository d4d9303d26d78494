"""The chain page's state: the decision log verified by the audit tool's own verify (given to
the console by its command, with the keys the reviewer pinned), in the background, on
demand and every few minutes; the last result and when it was checked."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from consumers.audit.problem import Problem
from consumers.audit.verify import Report

__all__ = ["ChainChecker", "ChainStatus", "Checked"]

Verify = Callable[[], Report]


@dataclass(frozen=True)
class ChainStatus:
    chain: str
    first_problem: Problem | None  # the first broken link, by position
    problems: int
    sealed_to: int | None  # the last valid seal's sequence


@dataclass(frozen=True)
class Checked:
    at: dt.datetime
    report: Report | None
    error: str | None  # the check could not run (broker down, bad keys file, ...)

    def chains(self) -> list[ChainStatus]:
        if self.report is None:
            return []
        found: dict[str, list[Problem]] = {}
        for problem in sorted(self.report.problems, key=Problem.sort_key):
            found.setdefault(problem.chain, []).append(problem)
        names = sorted(set(self.report.heads) | set(found))
        return [
            ChainStatus(
                name,
                found[name][0] if name in found else None,
                len(found.get(name, [])),
                self.report.heads[name].sequence if name in self.report.heads else None,
            )
            for name in names
        ]


class ChainChecker:
    """Runs ``verify`` when asked (``check``) and every ``interval_s`` seconds on its own
    thread; one check at a time."""

    def __init__(self, verify: Verify | None, interval_s: float = 300.0) -> None:
        self.verify = verify
        self.interval_s = interval_s
        self.last: Checked | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chain-check", daemon=True)

    def start(self) -> None:
        if self.verify is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> Checked | None:
        if self.verify is None:
            return None
        with self._lock:
            try:
                self.last = Checked(dt.datetime.now(dt.UTC), self.verify(), None)
            except Exception as error:  # shown on the page; the console keeps serving
                self.last = Checked(dt.datetime.now(dt.UTC), None, str(error) or repr(error))
            return self.last

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.interval_s)
