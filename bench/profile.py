"""Where the router's time goes: the lookouts lane run in this process under pyinstrument (a
sampling profiler) over events already in a namespace, until its group has routed them all."""

from __future__ import annotations

import threading

from pyinstrument import Profiler

from bench.common import Namespace, RoutingProgress
from intelbus.waiting import wait_for
from services.router.service import Router

__all__ = ["profile_lookouts_lane"]

_SAMPLE_INTERVAL_S = 0.001
_HIDE_BELOW_PERCENT = 1.0  # frames under 1% of the run are noise in a summary


def profile_lookouts_lane(ns: Namespace) -> str:
    """The call tree (text) of one lookouts lane routing everything in ``ns``'s
    lookouts topics.

    ``ns`` must name a consumer group that has not routed these events yet. The lane connects
    as the router principal and reads every publisher's lookouts topic, as in production."""
    router = Router(ns.router, lanes=("lookouts",))
    (lane,) = router.lanes()
    progress = RoutingProgress(ns, "lookouts")

    def stop_when_routed() -> None:
        try:
            with progress:
                wait_for(
                    lambda: progress.fraction() >= 1.0,
                    timeout=600,
                    what="the profiled lane to route every event",
                    interval=0.2,
                )
        finally:
            router.stop.set()

    watcher = threading.Thread(target=stop_when_routed, daemon=True)
    profiler = Profiler(interval=_SAMPLE_INTERVAL_S)
    watcher.start()
    profiler.start()
    try:
        lane.run()
    finally:
        profiler.stop()
        router.stop.set()
    return str(
        profiler.output_text(
            unicode=False,
            color=False,
            time="percent_of_total",
            processor_options={"filter_threshold": _HIDE_BELOW_PERCENT / 100},
        )
    )
