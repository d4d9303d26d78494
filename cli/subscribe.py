"""``intelbus subscribe --as RECIPIENT``: read a recipient's feed, as text or JSON lines."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from consumers.current import current_events
from consumers.feed import FeedItem
from consumers.render import current_json, current_line, item_json, item_line
from consumers.subscriber import Subscriber, read_feed, read_parked
from intelbus.access.principals import subscriber_principal
from intelbus.errors import IntelbusError
from intelbus.jsonout import dumps
from intelbus.policy.recipients import load_recipients
from intelbus.settings import Settings

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "subscribe",
        help="read a recipient's feed",
        description="Without --from-beginning, reads what is new since this recipient's "
        "last `subscribe` (progress is committed after each item is printed).",
    )
    parser.add_argument("--as", dest="recipient", required=True, metavar="RECIPIENT")
    parser.add_argument(
        "--from-beginning", action="store_true", help="the whole feed; commit nothing"
    )
    parser.add_argument(
        "--follow", action="store_true", help="keep waiting for new items (Ctrl-C stops)"
    )
    parser.add_argument(
        "--current",
        action="store_true",
        help="the current state of each event (latest version, withdrawn or expired, "
        "outcomes) instead of every delivery",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--parked", action="store_true", help="show parked (unhandled) items instead"
    )
    parser.set_defaults(run=_subscribe)


def _subscribe(args: argparse.Namespace, settings: Settings) -> int:
    known = [recipient.id for recipient in load_recipients(settings.policies_dir)]
    if args.recipient not in known:
        raise IntelbusError(f"unknown recipient {args.recipient!r}; known: {', '.join(known)}")
    if not settings.principal_override:  # a recipient reads as its own subscriber principal
        settings = settings.as_principal(subscriber_principal(args.recipient))

    def show(item: FeedItem) -> None:
        print(dumps(item_json(item)) if args.json else item_line(item), flush=True)

    if args.parked:
        for parked in read_parked(settings, args.recipient):
            if args.json:
                print(
                    dumps(
                        {
                            "source": parked.source,
                            "error": parked.error,
                            "attempts": parked.attempts,
                        }
                    )
                )
            else:
                print(f"{parked.source}  after {parked.attempts} attempts: {parked.error}")
        return 0
    stop = threading.Event()
    if args.current:
        feed = read_feed(settings, args.recipient, False, stop)
        for event_id, current in current_events(feed).items():
            if args.json:
                print(dumps(current_json(event_id, current)), flush=True)
            else:
                print(current_line(event_id, current), flush=True)
        return 0
    if args.from_beginning:
        for item in read_feed(settings, args.recipient, args.follow, stop):
            show(item)
        return 0
    subscriber = Subscriber(settings, args.recipient, show)
    signal.signal(signal.SIGTERM, lambda *_: subscriber.stop.set())
    try:
        subscriber.run(follow=args.follow)
    except KeyboardInterrupt:
        subscriber.stop.set()
    print(f"{subscriber.handled} item(s) read", file=sys.stderr)
    return 0
