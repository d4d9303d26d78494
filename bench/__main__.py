"""``python -m bench`` (``make bench``): every benchmark in one run, on the local stack.

Prints a table and writes bench/results/<time>.json with the machine's CPUs, memory and
versions. Benchmarks measure; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from bench.common import (
    Measured,
    Namespace,
    bench_policies,
    drop_namespaces,
    machine,
    percentiles,
    preload,
    run_until_consumed,
)
from bench.console import render_console, run_console
from bench.deadlines import render_deadlines, run_deadlines
from bench.deconflict import render_deconflict, run_deconflict
from bench.fuzz import render_fuzz, run_fuzz
from bench.latency import LatencyRun, run_latency
from bench.profile import profile_lookouts_lane
from deploy.stack.local import LocalStack
from intelbus import clients, serde
from intelbus.logs import configure_logging
from intelbus.models import Lookout, OfficerSafetyAlert, Pointer, PolicyDecision
from intelbus.settings import Settings
from intelbus.tables import table
from intelbus.waiting import wait_for
from services.router.progress import lane_is_running
from tests.generate import alerts, lookouts

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
ROUTER = [sys.executable, "-m", "cli", "router", "run"]
PASSTHROUGH_COPIES = 5  # the copier is fast: give it a longer run than the router
FANOUTS = (1, 3, 5)
COMMIT_INTERVALS_MS = (10, 100, 1000)
SCALE_OUT_WORKERS = 2  # lookout-lane processes; this machine has two CPUs


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def serde_ceiling(settings: Settings, events: list[Lookout]) -> dict[str, float]:
    """Decode + re-encode of the same events with fastavro, in process, no Kafka."""
    text = serde.expanded_schema(settings.schemas_dir, "intelbus.Lookout")
    schema = fastavro.parse_schema(json.loads(text))
    encoded = []
    for event in events:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, event.to_avro())
        encoded.append(buffer.getvalue())
    started = time.perf_counter()
    for data in encoded:
        record = fastavro.schemaless_reader(io.BytesIO(data), schema, None)
        fastavro.schemaless_writer(io.BytesIO(), schema, record)
    seconds = time.perf_counter() - started
    return {
        "events_per_s": round(len(encoded) / seconds),
        "mean_event_bytes": round(sum(map(len, encoded)) / len(encoded)),
    }


def _row(measured: Measured) -> dict[str, Any]:
    return {
        "events": measured.events,
        "events_per_s": round(measured.events_per_s),
        "cpu_s_per_1000_events": round(measured.cpu_s_per_1000, 3),
        "peak_rss_mb": round(measured.peak_rss_mb),
    }


def _with_group(ns: Namespace, name: str) -> Namespace:
    """The same topics, read by a new consumer group (so the events are routed again)."""
    return Namespace(
        ns.settings.model_copy(update={"router_group_tag": name}),
        ns.topics,
        ns.recipients,
        ns.principals,
    )


def _router_env(ns: Namespace, interval_ms: int = 100) -> dict[str, str]:
    return ns.env() | {"INTELBUS_COMMIT_INTERVAL_MS": str(interval_ms)}


def _grant_describe_configs(ns: Namespace, principal: str) -> None:
    """Quix reads the configuration of every topic it opens (DescribeConfigs), which the bus
    grants nobody but the operator: allow it to ``principal`` on this namespace's topics."""
    binding = AclBinding(
        ResourceType.TOPIC,
        ns.settings.topic_prefix,
        ResourcePatternType.PREFIXED,
        f"User:{principal}",
        "*",
        AclOperation.DESCRIBE_CONFIGS,
        AclPermissionType.ALLOW,
    )
    admin = clients.admin(ns.settings)  # must outlive the futures
    for future in admin.create_acls([binding]).values():
        future.result(30)


def _quix(ns: Namespace, log: Path) -> Measured:
    """The peer as the router principal, in the router's group prefix (lane "quix")."""
    _grant_describe_configs(ns, ns.principals.router)
    client = serde.registry_client(ns.settings)
    env = ns.env(ns.principals.router) | {"PYTHONPATH": str(ROOT)}
    for name, model in (("lookout", Lookout), ("pointer", Pointer), ("decision", PolicyDecision)):
        codec = serde.FastCodec.registered(client, model, ns.settings.schemas_dir)
        env[f"BENCH_SCHEMA_{name.upper()}"] = serde.expanded_schema(
            ns.settings.schemas_dir, model.avro_name
        )
        env[f"BENCH_SCHEMA_ID_{name.upper()}"] = str(codec.schema_id)
    return run_until_consumed([str(BENCH_PYTHON), "-m", "bench.quix_peer"], env, ns, "quix", log)


def _with_router(
    ns: Namespace, log: Path, interval_ms: int, probe: Callable[[], LatencyRun]
) -> LatencyRun:
    """Run ``probe()`` while a router routes in ``ns``."""
    with log.open("ab") as out:
        router = subprocess.Popen(ROUTER, env=_router_env(ns, interval_ms), stdout=out, stderr=out)
    try:
        for lane in ("lookouts", "officer-safety"):
            wait_for(
                lambda lane=lane: lane_is_running(ns.settings, lane),  # type: ignore[misc]
                timeout=60,
                what=f"the router's {lane} lane",
            )
        return probe()
    finally:
        router.terminate()
        router.wait(60)


def _ms(samples: list[float]) -> dict[str, float]:
    return {name: round(value, 1) for name, value in percentiles(samples).items()}


class Benchmarks:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = Settings()
        self.work = Path(tempfile.mkdtemp(prefix="intelbus-bench-"))
        self.log = self.work / "processes.log"
        self.results: dict[str, Any] = {
            "machine": machine(self.settings),
            "events_per_run": args.events,
        }
        _say(f"generating {args.events} lookouts (seed {args.seed}) ...")
        self.events = list(lookouts(args.events, seed=args.seed))
        self.alert: OfficerSafetyAlert = next(iter(alerts(1, seed=args.seed)))
        self.namespaces: dict[int, Namespace] = {}

    def throughput(self) -> None:
        self.results["serde_ceiling"] = serde_ceiling(self.settings, self.events)
        rows: dict[str, Any] = {}
        for fanout in FANOUTS:
            policies = bench_policies(fanout, self.work / f"policies-{fanout}")
            _say(f"fan-out {fanout}: passthrough ...")
            copier = Namespace.create(self.settings, f"p{fanout}", policies)
            preload(copier, self.events, copies=PASSTHROUGH_COPIES)
            passthrough = run_until_consumed(
                [sys.executable, "-m", "bench.passthrough"],
                copier.env(copier.principals.router),
                copier,
                "passthrough",
                self.log,
            )
            _say(f"fan-out {fanout}: router ...")
            ns = self.namespaces[fanout] = Namespace.create(self.settings, f"f{fanout}", policies)
            preload(ns, self.events)
            router = run_until_consumed(ROUTER, _router_env(ns), ns, "lookouts", self.log)
            rows[str(fanout)] = {"passthrough": _row(passthrough), "router": _row(router)}
        self.results["throughput"] = rows

    def quix_peer(self) -> None:
        if not BENCH_PYTHON.exists():
            _say("no .venv-bench: skipping the Quix Streams peer (make bench creates it)")
            return
        _say("fan-out 3: Quix Streams peer ...")
        self.results["quix_peer_fanout_3"] = _row(
            _quix(_with_group(self.namespaces[3], "quix"), self.log)
        )

    def scale_out(self) -> None:
        _say(f"fan-out 3: router with {SCALE_OUT_WORKERS} lookout workers ...")
        ns = _with_group(self.namespaces[3], "workers")
        self.results["router_fanout_3_scaled_out"] = _row(
            run_until_consumed(
                [*ROUTER, f"--lookout-workers={SCALE_OUT_WORKERS}"],
                _router_env(ns),
                ns,
                "lookouts",
                self.log,
            )
        ) | {"lookout_workers": SCALE_OUT_WORKERS}

    def where_time_goes(self) -> None:
        _say("fan-out 3: profiling the router's lookouts lane (pyinstrument) ...")
        self.results["router_profile_fanout_3"] = profile_lookouts_lane(
            _with_group(self.namespaces[3], "profile")
        )

    def commit_interval_sweep(self) -> None:
        rows: dict[str, Any] = {}
        load = self.results["throughput"]["3"]["router"]["events_per_s"] / 4
        for interval in COMMIT_INTERVALS_MS:
            _say(f"commit interval {interval} ms ...")
            ns = _with_group(self.namespaces[3], f"sweep{interval}")
            measured = run_until_consumed(
                ROUTER, _router_env(ns, interval), ns, "lookouts", self.log
            )
            fresh = Namespace.create(self.settings, f"lat{interval}", ns.settings.policies_dir)
            latency = _with_router(
                fresh,
                self.log,
                interval,
                lambda fresh=fresh: run_latency(  # type: ignore[misc]
                    fresh,
                    self.events[0],
                    self.alert,
                    load_rate=load,
                    alert_rate=20,
                    seconds=self.args.latency_seconds / 2,
                    sample_lookouts=True,
                ),
            )
            rows[str(interval)] = _row(measured) | {
                "lookouts_per_s_during_latency_run": round(load),
                "lookout_latency_ms": _ms(latency.lookouts),
            }
        self.results["commit_interval_sweep_fanout_3"] = rows

    def officer_safety_latency(self) -> None:
        _say("officer-safety latency under half load (the product policy) ...")
        ns = Namespace.create(self.settings, "os")
        load = self.results["throughput"]["5"]["router"]["events_per_s"] / 2
        latency = _with_router(
            ns,
            self.log,
            100,
            lambda: run_latency(
                ns,
                self.events[0],
                self.alert,
                load_rate=load,
                alert_rate=50,
                seconds=self.args.latency_seconds,
                sample_lookouts=False,
            ),
        )
        self.results["officer_safety_latency"] = {
            "background_lookouts_per_s": round(load),
            "lookouts_sent": latency.load_sent,
            "alerts": len(latency.alerts),
            "router_ms": _ms(latency.alerts),
            "raw_kafka_ms": _ms(latency.raw),
        }

    def hit_deadlines(self) -> None:
        self.results["hit_deadlines"] = run_deadlines(100_000, spread_s=100.0, window_s=20.0)

    def console(self) -> None:
        self.results["console"] = run_console(self.settings)

    def deconfliction(self) -> None:
        _say("deconfliction: 1,000,000 active identifiers, then publish -> notice under load ...")
        self.results["deconfliction"] = run_deconflict(
            self.settings, entries=200_000, probes=100_000, load=500.0, rate=5.0, seconds=30.0
        )

    def decode_fuzz(self) -> None:
        self.results["decode_fuzz"] = run_fuzz(self.settings, self.args.fuzz_cases, self.args.seed)

    def save(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"{self.results['machine']['date'].replace(':', '')}.json"
        out.write_text(json.dumps(self.results, indent=2))
        return out


def _measure_row(label: str, measured: dict[str, Any]) -> list[object]:
    return [
        label,
        f"{measured['events_per_s']:,}",
        measured["cpu_s_per_1000_events"],
        measured["peak_rss_mb"],
    ]


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    head = (
        f"intelbus benchmarks on {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB; "
        f"Python {m['python']}, Kafka {m['kafka']}, confluent-kafka {m['confluent_kafka']} "
        f"(librdkafka {m['librdkafka']}), {results['events_per_run']:,} events per run"
    )
    rows: list[list[object]] = [
        [
            "serde ceiling (fastavro decode + encode)",
            f"{results['serde_ceiling']['events_per_s']:,}",
            "",
            "",
        ]
    ]
    for fanout, pair in results["throughput"].items():
        for name in ("passthrough", "router"):
            rows.append(_measure_row(f"{name}, fan-out {fanout}, exactly once", pair[name]))
    scaled = results["router_fanout_3_scaled_out"]
    rows.append(
        _measure_row(f"router, fan-out 3, {scaled['lookout_workers']} lookout workers", scaled)
    )
    quix = results.get("quix_peer_fanout_3")
    if quix:
        rows.append(_measure_row("Quix Streams peer, fan-out 3, exactly once", quix))
    lines = [head, "", table(["measure", "events/s", "CPU s/1000 ev", "peak RSS MB"], rows), ""]
    router3 = results["throughput"]["3"]["router"]["events_per_s"]
    lines.append(
        f"router / passthrough at fan-out 3: "
        f"{router3 / results['throughput']['3']['passthrough']['events_per_s']:.3f}; "
        f"router / serde ceiling: {router3 / results['serde_ceiling']['events_per_s']:.3f}"
        + (f"; router / Quix peer: {router3 / quix['events_per_s']:.2f}" if quix else "")
    )
    sweep = [
        [
            f"{interval} ms",
            f"{row['events_per_s']:,}",
            f"{row['lookouts_per_s_during_latency_run']:,}",
            row["lookout_latency_ms"]["p50"],
            row["lookout_latency_ms"]["p99"],
        ]
        for interval, row in results["commit_interval_sweep_fanout_3"].items()
    ]
    lines += [
        "",
        "commit interval sweep, fan-out 3 (latency: publish -> visible to a read_committed reader)",
        table(["interval", "max events/s", "load events/s", "p50 ms", "p99 ms"], sweep),
    ]
    os_ = results["officer_safety_latency"]
    latency_rows = [
        ["router: publish -> CBP alerts feed", *os_["router_ms"].values()],
        ["raw Kafka: produce -> consume", *os_["raw_kafka_ms"].values()],
    ]
    lines += [
        "",
        f"officer-safety latency: {os_['alerts']} alerts while {os_['background_lookouts_per_s']:,}"
        " lookouts/s load the router (half its fan-out-5 maximum)",
        table(["path", "p50 ms", "p99 ms", "p99.9 ms"], latency_rows),
    ]
    lines += ["", "where the router's time goes (fan-out 3, lookouts lane, pyinstrument):"]
    lines.append(results["router_profile_fanout_3"].strip("\n"))
    lines += ["", render_deadlines(results["hit_deadlines"])]
    lines += ["", render_deconflict(results["deconfliction"])]
    lines += ["", render_fuzz(results["decode_fuzz"])]
    if "console" in results:
        lines += ["", render_console(results["console"])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000, help="events per throughput run")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--fuzz-cases", type=int, default=10_000, help="crafted records for the decode fuzz"
    )
    parser.add_argument(
        "--keep-topics", action="store_true", help="keep the run's topics and ACLs afterwards"
    )
    args = parser.parse_args()
    configure_logging("WARNING")  # the profiled lane runs in this process: keep its info quiet
    LocalStack(Settings(), say=lambda line: _say(f"[stack] {line}")).up()
    bench = Benchmarks(args)
    try:
        bench.throughput()
        bench.scale_out()
        bench.where_time_goes()
        bench.quix_peer()
        bench.commit_interval_sweep()
        bench.officer_safety_latency()
        bench.hit_deadlines()
        bench.deconfliction()
        bench.decode_fuzz()
        bench.console()
    finally:
        if not args.keep_topics:
            _say(f"dropped the run's topics ({drop_namespaces(bench.settings)}) and their ACLs")
    out = bench.save()
    print(render(bench.results))
    print(f"\nJSON: {out}\nprocess logs: {bench.log}")


if __name__ == "__main__":
    main()
