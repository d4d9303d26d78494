"""A router process: its lanes (lookouts; officer-safety on a low-latency lane) as threads,
a clean stop on SIGTERM/SIGINT, and a non-zero exit if a lane fails.

``intelbus router run`` gives each lane a process of its own (services/router/supervisor.py)
so that a busy lookout lane never holds the interpreter lock an alert is waiting for; tests
and the demo run both lanes as threads of one process."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import structlog

from intelbus.access.principals import load_principals
from intelbus.models import (
    CaseOutcome,
    DeconflictionCheck,
    DeconflictionNotice,
    HitAnswer,
    HitReport,
    Lookout,
    OfficerSafetyAlert,
    Withdrawal,
)
from intelbus.names import topic_map
from intelbus.policy.hits import load_hit_deadlines
from intelbus.policy.policyset import PolicySet, load_policy_set
from intelbus.settings import Settings
from services.router.keys import router_signer
from services.router.lane import Lane, LaneConfig, RouterContext, Stopped
from services.router.progress import LANE_OF_ROLE

__all__ = ["LANES", "Router"]

log = structlog.get_logger()


LANES = ("lookouts", "officer-safety")


class Router:
    def __init__(
        self,
        settings: Settings,
        policy: PolicySet | None = None,
        lanes: tuple[str, ...] = LANES,
    ) -> None:
        principals = load_principals(settings.policies_dir)
        # The router connects as the router principal unless told otherwise (INTELBUS_PRINCIPAL).
        self.settings = (
            settings if settings.principal_override else settings.as_principal(principals.router)
        )
        self.principals = principals
        self.lane_names = lanes
        # Refuse to start on an invalid policy set (fail closed).
        self.policy = policy or load_policy_set(settings.policies_dir)
        self.hit_deadlines = load_hit_deadlines(settings.policies_dir)
        self.topics = topic_map(settings)
        # Which agency published on each inbound topic: the broker lets only its publisher
        # write there, so this, not the event's text, is the event's proven originator.
        self.agencies = {
            self.topics.of_publisher(role, p.id).name: p.agency
            for p in principals.publishers
            for role in LANE_OF_ROLE
        }
        # Minted only on the bus's first start; a vanished key stops the router here.
        self.signer = router_signer(self.settings)
        self.stop = threading.Event()
        self.failures: list[BaseException] = []

    def lanes(self) -> list[Lane]:
        s = self.settings
        context = RouterContext(
            s,
            self.topics,
            self.policy,
            self.signer,
            self.stop,
            self.principals,
            self.agencies,
            self.hit_deadlines,
        )
        configs = {
            "lookouts": LaneConfig(
                "lookouts",
                # Outcomes and hits are co-partitioned with the lookouts they are about
                # (lifecycle.py); each topic carries its own record types only.
                {
                    topic: carried
                    for p in self.principals.publishers
                    for topic, carried in (
                        (self.topics.lookouts(p.id), (Lookout, Withdrawal)),
                        (self.topics.outcomes(p.id), (CaseOutcome,)),
                        (self.topics.hits(p.id), (HitReport, HitAnswer)),
                    )
                },
                Lookout,
                "feed",
                s.commit_interval_ms / 1000,
                5,
                lifecycle=True,
            ),
            "officer-safety": LaneConfig(
                "officer-safety",
                {
                    self.topics.officer_safety(p.id): (OfficerSafetyAlert,)
                    for p in self.principals.publishers
                }
                # Deconfliction notices: a conflict of operations is an officer-safety alert.
                | {self.topics.deconflict_notices: (DeconflictionNotice, DeconflictionCheck)},
                OfficerSafetyAlert,
                "alerts",
                s.alert_commit_interval_ms / 1000,
                0,
            ),
        }
        return [Lane(context, configs[name]) for name in self.lane_names]

    def run(self, handle_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT or :attr:`stop` (or a lane fails); return the exit code."""

        def on_signal(signum: int, _: FrameType | None) -> None:
            log.info("router.stopping", signal=signal.Signals(signum).name)
            self.stop.set()

        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        previous = {sig: signal.signal(sig, on_signal) for sig in signals}
        try:
            self._run_lanes()
        except Stopped:  # stopped while a lane waited for the registry
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("router.stopped", failed=bool(self.failures))
        return 1 if self.failures else 0

    def _run_lanes(self) -> None:
        threads = [
            threading.Thread(target=self._guard, args=(lane,), name=lane.config.name)
            for lane in self.lanes()
        ]
        log.info(
            "router.started",
            policy_version=self.policy.version,
            recipients=list(self.policy.recipients),
            signing_key=self.signer.key_id,
            instance=self.settings.router_instance,
        )
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _guard(self, lane: Lane) -> None:
        try:
            lane.run()
        except BaseException as error:
            log.exception("router.lane_failed", lane=lane.config.name)
            self.failures.append(error)
            self.stop.set()  # one lane down stops the process, so a supervisor restarts it
