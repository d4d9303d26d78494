"""``python -m bench.deconflict``: the deconfliction service's index and latency.

In process, no Kafka: an index of 1,000,000 active identifiers (200,000 lookouts of five
normalized identifiers each: A-number, passport, VIN, plate, phone), its memory (resident
set before and after building it) and its restore time from the changelog's JSON; then
match throughput: new entries of five identifiers each matched against it (one in ten
shares an identifier with an indexed one).

Against the local stack: publish-to-notice latency under load. The service runs in this
process on a private namespace; a background publisher sends non-conflicting lookouts at
``--load`` per second; every ``1/--rate`` seconds a CBP operation targets a phone of an ICE
lookout published earlier. Latency: the operation's publish acknowledgement to its first
notice seen by a read_committed consumer of the notices topic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import threading
import time
from typing import Any

from confluent_kafka import TopicPartition

from bench.common import Namespace, drop_namespaces, percentiles
from intelbus import clients
from intelbus.deconflict.entries import Entry
from intelbus.deconflict.identifiers import Identifier
from intelbus.deconflict.index import Index
from intelbus.models import DeconflictionNotice, Subjects
from intelbus.names import reader_group, topic_map
from intelbus.reader import ContractReader
from intelbus.settings import Settings
from intelbus.tables import table
from producers.publisher import Publisher
from services.deconflict.progress import wait_until_deconflicted
from services.deconflict.service import Deconflictor
from tests import factories
from tests.deconflict_helpers import operation

__all__ = ["render_deconflict", "run_deconflict"]

_PAGE = os.sysconf("SC_PAGE_SIZE")
_FAR = 10**15  # never expires within the run


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE / 2**20


def _identifiers(n: int) -> frozenset[Identifier]:
    return frozenset(
        {
            Identifier("person.a-number", f"{n:09d}"),
            Identifier("person.passport", f"MX|P{n:08d}"),
            Identifier("vehicle.vin", f"1FTFW1ET5D{n:07d}"),
            Identifier("vehicle.plate", f"TX|{n:07d}"),
            Identifier("phone", f"+1956{n:07d}"),
        }
    )


def _entry(n: int, agency: str) -> Entry:
    return Entry(f"e-{agency}-{n}", 1, agency, "POC", _FAR, _identifiers(n))


def index_figures(entries: int, probes: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    before = _rss_mib()
    started = time.perf_counter()
    index = Index()
    index.load(_entry(n, "ICE") for n in range(entries))
    built_s = time.perf_counter() - started
    memory = _rss_mib() - before
    # One in ten probes shares its identifiers with an indexed entry; the rest are new.
    numbers = [rng.randrange(entries) if rng.random() < 0.1 else entries + n for n in range(probes)]
    new = [_entry(n, "CBP") for n in numbers]
    started = time.perf_counter()
    matched = sum(1 for entry in new if index.conflicts(entry, 0))
    match_s = time.perf_counter() - started
    # Restore: the changelog's values decoded and loaded, as the service does at start.
    encoded = [_entry(n, "ICE").encode() for n in range(entries // 10)]
    started = time.perf_counter()
    Index().load(Entry.decode(value) for value in encoded)
    restore_s = (time.perf_counter() - started) * 10
    return {
        "identifiers": index.identifiers,
        "entries": len(index),
        "build_s": round(built_s, 1),
        "memory_mib": round(memory),
        "bytes_per_identifier": round(memory * 2**20 / index.identifiers),
        "probes": probes,
        "probes_matched": matched,
        "matches_per_s": round(probes / match_s),
        "identifier_lookups_per_s": round(probes * 5 / match_s),
        "restore_s_estimated": round(restore_s, 1),
    }


def _notice_watcher(
    settings: Settings, seen: dict[str, float], stop: threading.Event
) -> threading.Thread:
    """Records when each notice to CBP becomes visible to a read_committed consumer."""
    ns_topic = topic_map(settings).deconflict_notices
    reader = ContractReader.connect(settings, [DeconflictionNotice])
    consumer = clients.consumer(settings, reader_group(settings, "bench"), "bench-watch")
    # From the end as it is now, resolved before anything is published (OFFSET_END would be
    # resolved at the first fetch, after the first notices maybe).
    _, end = consumer.get_watermark_offsets(TopicPartition(ns_topic, 0), timeout=30)
    consumer.assign([TopicPartition(ns_topic, 0, end)])

    def watch() -> None:
        try:
            while not stop.is_set():
                for message in consumer.consume(500, 0.05):
                    if message.error():
                        continue
                    notice = reader.read(message.value()).record
                    assert isinstance(notice, DeconflictionNotice)
                    if notice.to_agency == "CBP":
                        seen.setdefault(notice.your_event_id, time.monotonic())
        finally:
            consumer.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def latency_figures(base: Settings, load: float, rate: float, seconds: float) -> dict[str, Any]:
    ns = Namespace.create(base, "deconflict")
    settings = ns.settings
    now = dt.datetime.now(dt.UTC)
    ice = factories.originator(agency="ICE", point_of_contact="SA Ortega")
    cbp = factories.originator(agency="CBP", point_of_contact="MIO Alvarez")
    valid = {"issued_at": now, "valid_until": now + dt.timedelta(days=1)}

    def lookout(n: int) -> Any:
        return factories.lookout(
            originator=ice, subjects=Subjects(phones=[f"+1 956 {n:07d}"]), **valid
        )

    conflicts = int(rate * seconds)
    publisher = Publisher(settings)
    # The targets of the operations to come, indexed first.
    publisher.publish_batch(publisher.encode(lookout(n)) for n in range(conflicts))
    service = Deconflictor(settings)
    running = threading.Thread(target=service.run, daemon=True)
    running.start()
    wait_until_deconflicted(settings, timeout=300)
    seen: dict[str, float] = {}
    stop = threading.Event()
    watcher = _notice_watcher(settings, seen, stop)

    def background() -> None:
        loader = Publisher(settings, client_id="bench-load")
        n, started = conflicts, time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - started) * load) + conflicts
            batch = [loader.encode(lookout(k)) for k in range(n, due)]
            if batch:
                loader.publish_batch(batch)
            n = due
            stop.wait(0.05)

    loading = threading.Thread(target=background, daemon=True)
    loading.start()
    sent: dict[str, float] = {}
    window = {
        "window_start": now + dt.timedelta(hours=1),
        "window_end": now + dt.timedelta(hours=9),
    }
    for n in range(conflicts):
        planned = operation(originator=cbp, targets=Subjects(phones=[f"+1 956 {n:07d}"]), **window)
        publisher.publish(planned)
        sent[planned.operation_id] = time.monotonic()
        time.sleep(1 / rate)  # the offered rate of conflicts, not a wait for a condition
    deadline = time.monotonic() + 60
    while len(seen.keys() & sent.keys()) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    service.stop.set()
    for thread in (loading, watcher, running):
        thread.join(60)
    latencies = [(seen[k] - sent[k]) * 1000 for k in sent if k in seen]
    drop_namespaces(base, [settings.topic_prefix])
    return {
        "background_lookouts_per_s": load,
        "conflicts": conflicts,
        "notices_seen": len(latencies),
        "publish_to_notice_ms": {k: round(v, 1) for k, v in percentiles(latencies).items()},
    }


def run_deconflict(
    base: Settings, *, entries: int, probes: int, load: float, rate: float, seconds: float
) -> dict[str, Any]:
    return {
        "index": index_figures(entries, probes, seed=13),
        "latency": latency_figures(base, load, rate, seconds),
    }


def render_deconflict(results: dict[str, Any]) -> str:
    ix, lat = results["index"], results["latency"]
    rows = [
        ["active identifiers", f"{ix['identifiers']:,} ({ix['entries']:,} entries)"],
        ["index memory", f"{ix['memory_mib']} MiB ({ix['bytes_per_identifier']} B/identifier)"],
        ["index build / restore", f"{ix['build_s']} s / ~{ix['restore_s_estimated']} s"],
        [
            "match throughput",
            f"{ix['matches_per_s']:,} events/s ({ix['probes_matched']:,} "
            f"of {ix['probes']:,} matched)",
        ],
        [
            "publish -> notice p50 / p99",
            f"{lat['publish_to_notice_ms']['p50']} / "
            f"{lat['publish_to_notice_ms']['p99']} ms ({lat['notices_seen']} of "
            f"{lat['conflicts']} conflicts, {lat['background_lookouts_per_s']:,} lookouts/s load)",
        ],
    ]
    return "deconfliction (index in process; latency on the local stack)\n" + table(
        ["measure", "value"], rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000, help="5 identifiers each")
    parser.add_argument("--probes", type=int, default=100_000)
    parser.add_argument("--load", type=float, default=500.0, help="background lookouts/s")
    parser.add_argument("--rate", type=float, default=5.0, help="conflicts/s")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run_deconflict(
        Settings(),
        entries=args.entries,
        probes=args.probes,
        load=args.load,
        rate=args.rate,
        seconds=args.seconds,
    )
    print(json.dumps(results, indent=2) if args.json else render_deconflict(results))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
