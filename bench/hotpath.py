"""``python -m bench.hotpath``: the router's CPU per event at fan-out N, in process, no Kafka.

The lookout lane's per-event path as services/router/lane.py runs it, minus the Kafka client:
each generated lookout (tests/generate.py, seeded), encoded under our schema's id, is read
strictly (ContractReader: the canonical check, fastavro, the models) and routed by the
router's own Fanout (policy, views, decision records hashed into their chains, encoding,
the lifecycle state), with every chain sealed and the state committed every
``--commit-every`` events as the lane's commit interval would. CPU time (process time) is
what contention on a shared machine barely moves; a cProfile pass over the same events then
prints the top frames by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import pstats
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from bench.common import bench_policies
from intelbus.keydir import mint_signer
from intelbus.models import (
    ChainSeal,
    LifecycleNotice,
    Lookout,
    Pointer,
    PolicyDecision,
    Withdrawal,
)
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import PolicyEngine
from intelbus.policy.hits import load_hit_deadlines
from intelbus.policy.policyset import load_policy_set
from intelbus.position import Position
from intelbus.reader import ContractReader
from intelbus.serde import FastCodec, WriterSchemas
from intelbus.settings import Settings
from services.router.decisions import ChainBook
from services.router.fanout import Fanout, FanoutTopics, Inbound
from services.router.lifecycle import Lifecycle
from services.router.serdes import Codecs
from tests.generate import lookouts

__all__ = ["HotPath", "measure"]

_PARTITIONS = 6  # the inbound lookouts topics' partitions (deploy/topics.yaml)
_SCHEMA_IDS = {Lookout: 9001, Withdrawal: 9002, Pointer: 9003, PolicyDecision: 9004}


class HotPath:
    """One lookout lane's reader and fan-out over a policy of ``fanout`` recipients."""

    def __init__(self, fanout: int, policies: Path, keys: Path) -> None:
        settings = Settings()
        schemas = settings.schemas_dir
        policy = load_policy_set(bench_policies(fanout, policies))
        # Our own schema ids need no registry (intelbus.reader): nothing here asks one.
        lookout = FastCodec(Lookout, schemas, _SCHEMA_IDS[Lookout])
        self.reader = ContractReader(
            [lookout, FastCodec(Withdrawal, schemas, _SCHEMA_IDS[Withdrawal])],
            WriterSchemas(None),  # type: ignore[arg-type]
            settings.max_event_bytes,
        )
        self.chains = ChainBook(mint_signer(keys), policy.version)
        self.lifecycle = Lifecycle()
        self.topics = {agency: f"bench.lookouts.{agency.lower()}" for agency in ("CBP", "ICE")}
        for topic in self.topics.values():
            for partition in range(_PARTITIONS):
                self.chains.restore(topic, partition, None, 0)
        self.fanout = Fanout(
            PolicyEngine(policy, AuthorizationBook()),
            self.chains,
            FanoutTopics(
                {r: f"bench.feed.{r}" for r in policy.recipients},
                "bench.decisions",
                "bench.dead-letter",
                {topic: agency for agency, topic in self.topics.items()},
                "bench.lifecycle",
                {r: f"bench.alerts.{r}" for r in policy.recipients},
            ),
            Codecs(
                lookout,
                FastCodec(Pointer, schemas, _SCHEMA_IDS[Pointer]),
                FastCodec(LifecycleNotice, schemas, 9006),
                FastCodec(PolicyDecision, schemas, _SCHEMA_IDS[PolicyDecision]),
                FastCodec(ChainSeal, schemas, 9005),
            ),
            "bench",
            lifecycle=self.lifecycle,
            hit_deadlines=load_hit_deadlines(settings.policies_dir),
        )
        self._encode = lookout.encode

    def inbound(self, events: list[Lookout]) -> list[Inbound]:
        """The events as the lane consumes them: on their originator's topic, by partition."""
        offsets: dict[tuple[str, int], int] = {}
        messages = []
        for event in events:
            topic = self.topics[event.originator.agency]
            partition = zlib.crc32(event.event_id.encode()) % _PARTITIONS
            offset = offsets.get((topic, partition), 0)
            offsets[(topic, partition)] = offset + 1
            value = self._encode(event.to_avro())
            position = Position(topic, partition, offset)
            messages.append(Inbound(position, event.event_id.encode(), value))
        return messages

    def run(self, messages: list[Inbound], commit_every: int) -> int:
        """Route every message as the lane does; returns the records produced."""
        produced = 0
        for index, inbound in enumerate(messages, start=1):
            decoded = self.reader.read(inbound.value)
            produced += len(self.fanout.route(inbound, decoded, dt.datetime.now(dt.UTC)))
            if index % commit_every == 0:
                produced += len(self.fanout.seals(dt.datetime.now(dt.UTC)))
                self.chains.commit()
                self.lifecycle.commit()
        return produced


def measure(fanout: int, count: int, seed: int, commit_every: int) -> tuple[float, float, str]:
    """CPU-µs per event over ``count`` generated lookouts (the median and the least of each
    commit's worth: a shared machine inflates CPU time too, through its caches), and
    cProfile's top frames."""
    events = list(lookouts(count, seed))

    def fresh(run: Callable[[HotPath, list[Inbound]], None]) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            path = HotPath(fanout, Path(scratch) / "policies", Path(scratch) / "keys")
            run(path, path.inbound(events))

    chunks: list[float] = []  # CPU-µs per event of each commit's worth of events

    def timed(path: HotPath, messages: list[Inbound]) -> None:
        path.run(messages[: count // 10], commit_every)  # warm caches and imports
        for start in range(count // 10, count - commit_every + 1, commit_every):
            begun = time.process_time()
            path.run(messages[start : start + commit_every], commit_every)
            chunks.append((time.process_time() - begun) / commit_every * 1e6)

    profiler = cProfile.Profile()

    def profiled(path: HotPath, messages: list[Inbound]) -> None:
        profiler.enable()
        path.run(messages, commit_every)
        profiler.disable()

    fresh(timed)
    fresh(profiled)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return statistics.median(chunks), min(chunks), out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fanout", type=int, default=3)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--commit-every", type=int, default=500, help="events per commit")
    args = parser.parse_args()
    median, least, profile = measure(args.fanout, args.events, args.seed, args.commit_every)
    print(
        f"fan-out {args.fanout}: {median:.1f} CPU-µs per event (median of commits; "
        f"least {least:.1f}; {args.events:,} events)"
    )
    print(profile)


if __name__ == "__main__":
    main()
