"""``python -m bench.deadlines``: how late the router escalates unanswered hits, with
100,000 deadlines open.

In process, no Kafka: the lookout lane's own state (services/router/lifecycle.py) holds
100,000 events with one open hit each, due over ``--spread`` seconds from the start; a loop
with the lane's cadence (wait until the next deadline, at most the idle poll; fire what is
due through the router's fan-out, which encodes each notice and decision record; commit the
state every commit interval) escalates them. Lateness is when the escalation was built
minus the deadline: it leaves out the Kafka transaction that then carries it (at most one
commit interval, measured by the router benchmarks). Also: the state's restore time (the
100,000 changelog values decoded) and the memory the state takes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import percentiles
from intelbus.keydir import mint_signer
from intelbus.models import ChainSeal, LifecycleNotice, Lookout, Pointer, PolicyDecision
from intelbus.names import topic_map
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import PolicyEngine
from intelbus.policy.hits import load_hit_deadlines
from intelbus.policy.policyset import load_policy_set
from intelbus.serde import FastCodec
from intelbus.settings import Settings
from intelbus.tables import table
from services.router.decisions import ChainBook
from services.router.fanout import Fanout, FanoutTopics
from services.router.lifecycle import EventState, Lifecycle, millis
from services.router.serdes import Codecs

__all__ = ["render_deadlines", "run_deadlines"]

_IDLE_S = 0.2  # the lane's idle poll (services/router/lane.py)
_COMMIT_S = 0.1  # the lookout lane's default commit interval
_SETUP_S = 10.0


def _fanout(settings: Settings, chains: ChainBook, lifecycle: Lifecycle) -> Fanout:
    policy = load_policy_set(settings.policies_dir)
    topics = topic_map(settings)
    schemas = settings.schemas_dir
    # Schema ids: nothing here reads the records back.
    codecs = Codecs(
        FastCodec(Lookout, schemas, 9001),
        FastCodec(Pointer, schemas, 9003),
        FastCodec(LifecycleNotice, schemas, 9006),
        FastCodec(PolicyDecision, schemas, 9004),
        FastCodec(ChainSeal, schemas, 9005),
    )
    return Fanout(
        PolicyEngine(policy, AuthorizationBook()),
        chains,
        FanoutTopics(
            {r: topics.feed(r) for r in policy.recipients},
            topics.decisions,
            topics.dead_letter,
            {},
            topics.lifecycle,
            {r: topics.alerts(r) for r in policy.recipients},
        ),
        codecs,
        "bench",
        lifecycle=lifecycle,
        hit_deadlines=load_hit_deadlines(settings.policies_dir),
    )


def _states(count: int, start: dt.datetime, spread_s: float, topic: str) -> list[bytes]:
    """Changelog values: ``count`` CBP lookouts, each with one hit from ICE due in turn."""
    step = spread_s / count
    return [
        EventState(
            f"lk-{n}",
            "CBP",
            1,
            millis(start + dt.timedelta(days=1)),
            (topic, 0, n),
            {"cbp": "deliver", "ice": "deliver"},
            priority="URGENT",
            hits={
                f"hit-{n}": {
                    "reporter": "ICE",
                    "deadline_ms": millis(start + dt.timedelta(seconds=n * step)),
                    "status": "open",
                }
            },
        ).encode()
        for n in range(count)
    ]


def run_deadlines(count: int, spread_s: float, window_s: float) -> dict[str, Any]:
    settings = Settings()
    topic = topic_map(settings).lookouts("cbp")
    # Generating, decoding and loading the state takes a few seconds: the first deadline
    # falls after them, so none is late for the set-up.
    start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=_SETUP_S)
    values = _states(count, start, spread_s, topic)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lifecycle = Lifecycle()
    restore = time.perf_counter()
    lifecycle.load(EventState.decode(value) for value in values)
    restore_s = time.perf_counter() - restore
    del values
    state_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    with tempfile.TemporaryDirectory() as keys:
        chains = ChainBook(mint_signer(Path(keys)), "bench")
        chains.restore(topic, 0, None, 0)
        fanout = _fanout(settings, chains, lifecycle)
        lateness_ms: list[float] = []
        cpu = 0.0
        end = start + dt.timedelta(seconds=window_s)
        assert dt.datetime.now(dt.UTC) < start, "set-up overran the first deadline"
        last_commit = time.monotonic()
        while (now := dt.datetime.now(dt.UTC)) < end:
            begun = time.process_time()
            for event_id, hit_id in lifecycle.due(now):
                state = lifecycle.get(event_id)
                assert state is not None
                fanout.escalate(state, hit_id, now)
                late = now - dt.datetime.fromtimestamp(
                    state.hits[hit_id]["deadline_ms"] / 1000, dt.UTC
                )
                lateness_ms.append(late.total_seconds() * 1000)
            cpu += time.process_time() - begun
            if time.monotonic() - last_commit >= _COMMIT_S:
                lifecycle.commit()
                chains.commit()
                last_commit = time.monotonic()
            following = lifecycle.next_deadline()
            wait = (
                _IDLE_S
                if following is None
                else (following - dt.datetime.now(dt.UTC)).total_seconds()
            )
            time.sleep(min(max(wait, 0.0), _IDLE_S))  # the lane's poll waits this long
    fired = len(lateness_ms)
    return {
        "open_deadlines": count,
        "spread_s": spread_s,
        "window_s": window_s,
        "escalated": fired,
        "lateness_ms": {k: round(v, 2) for k, v in percentiles(lateness_ms).items()}
        | {"max": round(max(lateness_ms, default=float("nan")), 2)},
        "cpu_us_per_escalation": round(cpu / max(fired, 1) * 1e6, 1),
        "restore_s": round(restore_s, 2),
        "state_mb": round(state_mb, 1),
    }


def render_deadlines(result: dict[str, Any]) -> str:
    late = result["lateness_ms"]
    rows: list[list[object]] = [
        ["open deadlines", f"{result['open_deadlines']:,}"],
        ["escalated in the window", f"{result['escalated']:,} in {result['window_s']:g} s"],
        [
            "lateness p50 / p99 / p99.9 / max",
            f"{late['p50']} / {late['p99']} / {late['p99.9']} / {late['max']} ms",
        ],
        ["CPU per escalation (2 notices, 2 decisions)", f"{result['cpu_us_per_escalation']} µs"],
        ["restore (decode the changelog's states)", f"{result['restore_s']} s"],
        ["memory of the state", f"{result['state_mb']} MB"],
    ]
    return "hit deadlines (in process, no Kafka):\n" + table(["measure", "value"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deadlines", type=int, default=100_000)
    parser.add_argument("--spread", type=float, default=100.0, help="seconds they fall due over")
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured")
    args = parser.parse_args()
    result = run_deadlines(args.deadlines, args.spread, args.window)
    print(render_deadlines(result))
    json.dump(result, sys.stderr)


if __name__ == "__main__":
    main()
