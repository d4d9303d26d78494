"""The faults, each injected at a point of the run and logged with its times: a router or a
subscriber killed with SIGKILL (and restarted at once), the broker leading most inbound
partitions killed with SIGKILL, the schema registry stopped. A server comes back after a
while on a thread of its own, so that a router or subscriber fault need not wait for it;
one server of the stack is down at a time."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from deploy.stack.local import LocalStack
from intelbus import clients
from intelbus.settings import Settings
from tests.chaos.children import Child

__all__ = ["FaultLog", "Faults", "Injected"]


@dataclass
class Injected:
    what: str
    at: float  # seconds since the run began
    wall: str  # local time it began
    ended: float | None = None  # when the fault was over (a restarted server answering)

    def line(self) -> str:
        over = f"; over at +{self.ended:.1f}s" if self.ended is not None else ""
        return f"+{self.at:6.1f}s ({self.wall})  {self.what}{over}"


@dataclass
class FaultLog:
    started: float = field(default_factory=time.monotonic)
    faults: list[Injected] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started

    def begin(self, what: str) -> Injected:
        fault = Injected(what, self.now(), time.strftime("%H:%M:%S"))
        self.faults.append(fault)
        return fault

    def end(self, fault: Injected) -> None:
        fault.ended = self.now()


class Faults:
    """Injects faults into ``stack`` and the bus of ``settings``; :meth:`recovered` waits
    for every server taken down to be back."""

    def __init__(self, stack: LocalStack, settings: Settings, stopped: threading.Event):
        self.stack = stack
        self.settings = settings
        self.log = FaultLog()
        self._stopped = stopped
        self._stack_lock = threading.Lock()  # one server of the stack down at a time
        self._recoveries: list[threading.Thread] = []

    def kill(self, child: Child, why: str) -> Injected:
        fault = self.log.begin(f"SIGKILL {child.name} ({why})")
        fault.what += f", pid {child.kill()}; restarted"
        self.log.end(fault)
        return fault

    def kill_inbound_leader(self, topics: list[str], down_s: float) -> Injected:
        """SIGKILL the broker leading most partitions of ``topics``; start it after
        ``down_s`` seconds."""
        metadata = clients.admin(self.settings).list_topics(timeout=30).topics
        leaders = Counter(
            partition.leader
            for topic in topics
            for partition in metadata[topic].partitions.values()
        )
        leader, count = leaders.most_common(1)[0]
        node = next(kafka for kafka in self.stack.nodes if kafka.place.node_id == leader)
        self._stack_lock.acquire()  # released once the stack is whole again
        fault = self.log.begin(
            f"SIGKILL {node.place.name} (leader of {count} of {sum(leaders.values())} inbound "
            f"partitions), pid {node.process.kill()}; started again after {down_s:.0f}s"
        )
        self._bring_back(fault, down_s)
        return fault

    def stop_registry(self, down_s: float) -> Injected:
        self._stack_lock.acquire()  # released once the stack is whole again
        fault = self.log.begin(f"schema registry stopped for {down_s:.0f}s")
        self.stack.registry.stop()
        self._bring_back(fault, down_s)
        return fault

    def _bring_back(self, fault: Injected, after_s: float) -> None:
        """Start what is down after ``after_s``; until the stack is whole again no other
        server is taken down (``stack up`` waits for every server it finds down)."""

        def recover() -> None:
            try:
                self._stopped.wait(after_s)
                self.stack.up()
                self.log.end(fault)
            finally:
                self._stack_lock.release()

        thread = threading.Thread(target=recover, name=f"recover {fault.what[:20]}")
        thread.start()
        self._recoveries.append(thread)

    def recovered(self) -> None:
        for thread in self._recoveries:
            thread.join()
