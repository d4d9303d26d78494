"""One fault-suite run: a private bus on a running cluster; a router, a CBP subscriber and a
load generator; faults at random points of the publishing, while the router routes (seeded);
then, once everything is routed and handled, the exactly-once checker over the whole bus.

The load generator publishes every event on its own (producers/load.py) and records the
broker's answer; the subscriber is ``intelbus subscribe --as cbp --follow --json``, whose
output is its receipts; the router is ``intelbus router run`` (or any command given).
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaException, TopicPartition

from cli.audit import router_anchors
from consumers.checker.bus import check_bus
from consumers.checker.report import CheckReport
from deploy.stack.local import LocalStack
from intelbus import clients
from intelbus.access.principals import load_principals, subscriber_principal
from intelbus.acks import AckWriter
from intelbus.keydir import load_public_keys
from intelbus.models import Record
from intelbus.names import subscriber_group, topic_map
from intelbus.settings import Settings
from intelbus.waiting import Timeout, wait_for
from producers.load import LoadResult, publish_recorded
from services.router.progress import (
    lane_is_running,
    routing_targets,
    wait_until_all_routed,
)
from tests.chaos.children import Child, Watchdog, env_for
from tests.chaos.faults import FaultLog, Faults, Injected
from tests.generate import alerts, lookouts
from tests.harness import private_bus

__all__ = ["ROUTER", "Outcome", "Plan", "run_chaos"]

ROUTER = (sys.executable, "-m", "cli", "router", "run")
SUBSCRIBER = "cbp"
_PROGRESS_POLL_S = 0.2
_SUBSCRIBER_STALL_S = 180.0
_FINISH_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Plan:
    events: int
    rate: float | None  # events per second published, at most
    router_kills: int = 3
    broker_down_s: float | None = 20.0  # None: no broker killed
    registry_down_s: float | None = 30.0  # None: the registry stays
    subscriber_kill: bool = True
    alert_share: float = 0.05  # of the events, officer-safety alerts (the other lane)
    seed: int = 7
    router: Sequence[str] = ROUTER
    # Faults happen at random points between these fractions of the events published.
    window: tuple[float, float] = (0.1, 0.8)


@dataclass
class Outcome:
    plan: Plan
    published: LoadResult
    publish_seconds: float
    log: FaultLog
    restarts: dict[str, int]
    report: CheckReport
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        p = self.published
        rate = f"{self.plan.rate:.0f}/s" if self.plan.rate else "as fast as acknowledged"
        return [
            f"events published       {p.sent} ({rate}, seed {self.plan.seed}) in "
            f"{self.publish_seconds:.1f}s: {p.acked} acked, {p.failed} failed, "
            f"{p.unknown} unknown",
            f"faults injected        {len(self.log.faults)}",
            *(f"  {fault.line()}" for fault in self.log.faults),
            "unplanned restarts     "
            + ", ".join(f"{name} {n}" for name, n in self.restarts.items()),
            *self.notes,
            "checker:",
            *(f"  {line}" for line in self.report.lines()),
            f"run took {self.seconds:.1f}s",
        ]


def _events(plan: Plan) -> Iterator[Record]:
    """Lookouts, with an officer-safety alert in place of every 1/alert_share-th."""
    every = round(1 / plan.alert_share) if plan.alert_share else 0
    alert_count = plan.events // every if every else 0
    flood = lookouts(plan.events - alert_count, seed=plan.seed)
    warnings = alerts(alert_count, seed=plan.seed)
    for n in range(plan.events):
        yield next(warnings) if every and n % every == every - 1 else next(flood)


class _Load:
    """The load generator, on a thread of its own: every event published on its own, its
    acknowledgement (or error) written to the ack log; ``result`` counts as answers come."""

    def __init__(self, settings: Settings, plan: Plan, acks: Path, say: Callable[[str], None]):
        self.settings, self.plan, self.acks, self.say = settings, plan, acks, say
        self.result = LoadResult()
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        with AckWriter(self.acks) as writer:
            publish_recorded(
                self.settings, _events(self.plan), writer, rate=self.plan.rate, result=self.result
            )
        self.seconds = time.monotonic() - started
        self.say(f"published {self.result.sent} events in {self.seconds:.1f}s")

    @property
    def answered(self) -> int:
        return self.result.acked + self.result.failed


class _Stall:
    """Raises once ``measure`` has not changed for ``after_s`` seconds."""

    def __init__(self, measure: Callable[[], int], after_s: float) -> None:
        self._measure, self._after_s = measure, after_s
        self._last, self._since = measure(), time.monotonic()

    def check(self) -> bool:
        value = self._measure()
        if value != self._last:
            self._last, self._since = value, time.monotonic()
        elif time.monotonic() - self._since > self._after_s:
            raise Timeout(f"no progress for {self._after_s:.0f}s")
        return True


def _caught_up(settings: Settings, group: str, targets: dict[tuple[str, int], int]) -> bool:
    """Has ``group`` committed up to ``targets`` (per partition, past its last record)?"""
    probe = clients.consumer(settings, group, "chaos-progress")
    try:
        committed = clients.committed(probe, [TopicPartition(t, p) for t, p in targets])
    finally:
        probe.close()
    return all(tp.offset >= targets[(tp.topic, tp.partition)] for tp in committed)


def _timed(say: Callable[[str], None], log: FaultLog) -> Callable[[str], None]:
    return lambda line: say(f"+{log.now():6.1f}s {line}")


def _schedule(plan: Plan) -> list[tuple[float, str]]:
    """Which fault happens at which fraction of the events published."""
    rng = random.Random(plan.seed)
    low, high = plan.window
    faults = ["router"] * plan.router_kills
    faults += ["broker"] if plan.broker_down_s is not None else []
    faults += ["registry"] if plan.registry_down_s is not None else []
    faults += ["subscriber"] if plan.subscriber_kill else []
    return sorted((rng.uniform(low, high), fault) for fault in faults)


def run_chaos(
    stack: LocalStack, plan: Plan, workdir: Path, keys_dir: Path, say: Callable[[str], None]
) -> Outcome:
    """Run ``plan`` on a private bus of ``stack`` (a running cluster); ``keys_dir`` holds the
    router's signing key, which the checker trusts."""
    workdir.mkdir(parents=True, exist_ok=True)
    settings = stack.settings.model_copy(
        update={"topic_prefix": f"chaos{uuid.uuid4().hex[:8]}.", "keys_dir_override": keys_dir}
    )
    with private_bus(settings):
        return _Run(stack, settings, plan, workdir, say).run()


class _Run:
    """The processes, the load and the faults of one run on its private bus."""

    def __init__(
        self,
        stack: LocalStack,
        settings: Settings,
        plan: Plan,
        workdir: Path,
        say: Callable[[str], None],
    ) -> None:
        self.settings, self.plan = settings, plan
        env = env_for(settings.as_env())
        self.receipts = workdir / f"receipts-{SUBSCRIBER}.jsonl"
        self.acks = workdir / "acks.jsonl"
        self.router = Child("router", plan.router, env, workdir / "router.log")
        self.subscriber = Child(
            f"subscriber-{SUBSCRIBER}",
            [sys.executable, "-m", "cli", "subscribe", "--as", SUBSCRIBER, "--follow", "--json"],
            env,
            workdir / "subscriber.log",
            stdout=self.receipts,
        )
        self.stopped = threading.Event()
        self.faults = Faults(stack, settings, self.stopped)
        self.say = _timed(say, self.faults.log)
        publishers = load_principals(settings.policies_dir).publishers
        self.inbound = [topic_map(settings).lookouts(p.id) for p in publishers]
        self.load = _Load(settings, plan, self.acks, self.say)

    def run(self) -> Outcome:
        children = (self.router, self.subscriber)
        for child in children:
            child.start()
        loader = threading.Thread(target=self.load.run, name="load")
        with Watchdog(children):
            try:
                # Publishing starts once the router routes: every fault falls while both go on.
                wait_for(
                    self._router_routes,
                    timeout=120,
                    what="the router to take its partitions",
                    interval=0.5,
                )
                loader.start()
                self._inject_all(loader)
                loader.join()
                self.faults.recovered()
                self.say("every server is back; waiting for the router and the subscriber")
                self._finish()
            finally:
                self.stopped.set()
                if loader.is_alive():
                    loader.join()
                self.faults.recovered()
        restarts = {child.name: child.unplanned_restarts for child in children}
        statuses = {child.name: child.stop() for child in children}
        self.say(f"processes stopped: {statuses}; checking ...")
        settings = self.settings
        trusted = load_public_keys(settings.keys_dir)  # the run holds the router's key
        report = check_bus(
            settings, trusted, router_anchors(settings), [self.acks], {SUBSCRIBER: self.receipts}
        )
        self.say("checked")
        log = self.faults.log
        return Outcome(
            self.plan, self.load.result, self.load.seconds, log, restarts, report, log.now()
        )

    def _router_routes(self) -> bool:
        with contextlib.suppress(KafkaException):  # a new cluster's coordinator still loads
            return lane_is_running(self.settings, "lookouts")
        return False

    def _inject_all(self, loader: threading.Thread) -> None:
        """Each fault when its share of the events has been published (and acknowledged),
        at least a fiftieth of them after the fault before."""
        events, floor = self.plan.events, 0
        for at, fault in _schedule(self.plan):
            due = min(max(round(at * events), floor), events)
            wait_for(
                lambda due=due: self.load.answered >= due or not loader.is_alive(),  # type: ignore[misc]
                timeout=600,
                what=f"{due} of the events published",
                interval=_PROGRESS_POLL_S,
            )
            self.say(self._inject(fault, self.load.answered / events).what)
            floor = self.load.answered + max(events // 50, 1)

    def _inject(self, fault: str, published: float) -> Injected:
        why, plan = f"at {published:.0%} published", self.plan
        match fault:
            case "router":
                return self.faults.kill(self.router, why)
            case "subscriber":
                return self.faults.kill(self.subscriber, why)
            case "broker":
                assert plan.broker_down_s is not None
                return self.faults.kill_inbound_leader(self.inbound, plan.broker_down_s)
        assert plan.registry_down_s is not None
        return self.faults.stop_registry(plan.registry_down_s)

    def _finish(self) -> None:
        """Wait until everything is routed and the subscriber has handled every delivery."""
        wait_until_all_routed(self.settings, timeout=_FINISH_TIMEOUT_S)
        self.say("everything routed")
        reader = self.settings.as_principal(subscriber_principal(SUBSCRIBER))
        group = subscriber_group(reader, SUBSCRIBER)
        # Everything is routed: the feed's ends stand still now.
        targets = {
            (topic, partition): end
            for topic in topic_map(self.settings).deliveries(SUBSCRIBER)
            for partition, end in routing_targets(self.settings, topic).items()
        }
        # It commits every item it handles: as long as it takes, while it moves on.
        handled = _Stall(lambda: self.receipts.stat().st_size, _SUBSCRIBER_STALL_S)
        wait_for(
            lambda: handled.check() and _caught_up(self.settings, group, targets),
            timeout=_FINISH_TIMEOUT_S,
            what="the subscriber to handle every delivery",
            interval=1.0,
        )
        self.say("the subscriber handled every delivery")
