"""``intelbus demo``: the seed scenarios end to end on the local stack, told step by step.

Each run uses its own topics (prefix ``demo-<time>.``) so it starts clean and can be run
again; the stack and the data stay (``intelbus stack down`` stops it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cli.audit import verify_bus
from consumers.audit.log import read_decision_log
from consumers.audit.query import report_rows
from consumers.current import current_events
from consumers.feed import FeedItem
from consumers.render import current_line, deconfliction_line
from consumers.subscriber import read_feed
from deploy.stack.local import LocalStack
from intelbus import clients, serde
from intelbus.access.broker import apply_access
from intelbus.access.principals import (
    load_principals,
    publisher_principal,
    subscriber_principal,
)
from intelbus.chain import public_key_line
from intelbus.clients import NotAuthorized
from intelbus.errors import IntelbusError
from intelbus.headers import DeadLetterHeaders, header_map
from intelbus.logs import configure_logging
from intelbus.models import (
    CaseOutcome,
    DeconflictionNotice,
    DisclosureAuthorization,
    HitAnswer,
    HitReport,
    Lookout,
    OfficerSafetyAlert,
    Record,
    Withdrawal,
)
from intelbus.names import topic_map
from intelbus.secrets import make_private_directory
from intelbus.settings import Settings
from intelbus.tables import table
from intelbus.topic_reader import read_to_end
from intelbus.topics import TopicMap, apply_topics
from producers.publisher import Publisher, PublishError
from services.deconflict.progress import wait_until_deconflicted
from services.deconflict.service import Deconflictor
from services.router.progress import (
    wait_until_all_routed,
    wait_until_authorizations_applied,
    wait_until_routed,
)
from services.router.service import Router
from services.scenario import DECONFLICTION, PHASE_1, PHASE_2, PHASE_3, TITLES, load_phase

__all__ = ["register"]

Say = Callable[[str], None]


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo", help="run the seed scenarios end to end on the local stack (about a minute)"
    )
    parser.set_defaults(run=_run)


def _heading(say: Say, text: str) -> None:
    say(f"\n== {text} {'=' * max(3, 86 - len(text))}")


def _id_of(record: Record) -> str:
    if isinstance(record, HitAnswer):
        return ""  # shown by its type: its hit id names the report
    for field in ("authorization_id", "outcome_id", "hit_id", "operation_id", "event_id"):
        if hasattr(record, field):
            return str(getattr(record, field))
    return ""


# Denials worth showing: withheld by a rule, not merely outside the recipient's interests.
_SHOWN_DENIALS = ("noforn", "expiry", "fail-closed")


def _cell(item: FeedItem | None, denied_by: list[str] | None = None) -> str:
    if item is None:
        shown = [rule for rule in denied_by or [] if rule in _SHOWN_DENIALS]
        return f"DENIED {shown[0]}" if shown else "-"
    if item.decision == "pointer":
        return "POINTER"
    if item.decision == "deliver-redacted":
        return "REDACTED -" + ",".join(path.removeprefix("pnr.") for path in item.removed)
    return "WHOLE"


class Demo:
    def __init__(self, settings: Settings, say: Say = print) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        prefix = f"demo-{stamp}."
        self.settings = settings.model_copy(
            update={
                "topic_prefix": prefix,
                "commit_interval_ms": 50,
            }
        )
        self.say = say
        self.topics: TopicMap = topic_map(self.settings)
        self.principals = load_principals(self.settings.policies_dir)
        self.reviewer = self.settings.as_principal(self.principals.reviewer)
        self.recipients = list(self.principals.recipients)
        self.now = dt.datetime.now(dt.UTC)

    def run(self) -> int:
        started = time.monotonic()
        say = self.say
        _heading(say, "1. The local stack: Kafka (KRaft) and Apicurio Registry")
        LocalStack(self.settings, say=lambda line: say(f"   {line}")).up()
        admin = clients.admin(self.settings)
        apply_topics(admin, self.topics.specs(self.principals))
        apply_access(admin, self.settings, self.topics, self.principals)
        serde.register_schemas(serde.registry_client(self.settings), self.settings.schemas_dir)
        say(f"   topics {self.settings.topic_prefix}* created; schemas registered (BACKWARD)")

        log_path = self.settings.home / "logs" / f"{self.settings.topic_prefix}router.log"
        router, thread = self._start_router(log_path)
        deconflictor = Deconflictor(self.settings)
        deconflicting = threading.Thread(target=deconflictor.run, daemon=True)
        deconflicting.start()
        try:
            self._phase_one()
            self._phase_two()
            self._deconfliction()
            self._lifecycle()
            self._wall()
        finally:
            deconflictor.stop.set()
            router.stop.set()
            deconflicting.join(60)
            thread.join(60)
        # The demo is operator and reviewer at once: it pins the key its router signed with.
        self._audit({router.signer.key_id: router.signer.public_key})
        self._console(router.signer.public_key)
        say(
            f"\nDone in {time.monotonic() - started:.0f}s. Router log: {log_path}\n"
            f"Explore: intelbus subscribe --as ice --from-beginning (with "
            f"INTELBUS_TOPIC_PREFIX={self.settings.topic_prefix}); stop the stack: "
            "intelbus stack down"
        )
        return 0

    def _start_router(self, log_path: Path) -> tuple[Router, threading.Thread]:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        configure_logging("INFO", log_path.open("a"))
        router = Router(self.settings)
        thread = threading.Thread(target=router.run, kwargs={"handle_signals": False}, daemon=True)
        thread.start()
        self.say(
            f"   policy router started (policy {router.policy.version}, signing key "
            f"{router.signer.key_id}); logging to {log_path}"
        )
        return router, thread

    def _publish(self, records: list[Record]) -> None:
        publisher = Publisher(self.settings, client_id="intelbus-demo")
        for record in records:
            delivery = publisher.publish(record)
            title = TITLES.get(_id_of(record), type(record).__name__)
            self.say(f"   published  {title:<52} -> {delivery.topic}")

    def _as_subscriber(self, recipient: str) -> Settings:
        return self.settings.as_principal(subscriber_principal(recipient))

    def _feeds(self) -> dict[str, dict[str, FeedItem]]:
        stop = threading.Event()
        return {
            r: {item.event_id: item for item in read_feed(self._as_subscriber(r), r, False, stop)}
            for r in self.recipients
        }

    def _await_deliveries(self) -> dict[str, dict[str, FeedItem]]:
        """Wait until the router has processed everything published, then read the feeds."""
        wait_until_all_routed(self.settings)
        return self._feeds()

    def _side_by_side(self, feeds: dict[str, dict[str, FeedItem]], event_ids: list[str]) -> None:
        rules = {
            (e.decision.event_id, e.decision.recipient): e.decision.rules
            for e in read_decision_log(self.settings, self.topics.decisions)
            if e.decision is not None
        }
        rows = [
            [TITLES.get(e, e)]
            + [_cell(feeds[r].get(e), rules.get((e, r))) for r in self.recipients]
            for e in event_ids
        ]
        for line in table(["event", *self.recipients], rows).splitlines():
            self.say(f"   {line}")

    def _phase_one(self) -> None:
        _heading(self.say, "2. Publishers publish the seed scenarios; the router fans them out")
        records = load_phase(PHASE_1, self.now)
        self._publish(records)
        events = [r.event_id for r in records if isinstance(r, Lookout | OfficerSafetyAlert)]
        feeds = self._await_deliveries()
        self.say("\n   What each subscriber's feed received (- = not within its subscriptions):")
        self._side_by_side(feeds, events)
        self.say(
            "\n   CBP, the primary receiver, keeps the EU PNR (sensitive items masked); ICE and"
            " JTTF Miami\n   get it removed (third parties); BEST Laredo gets only a pointer to"
            " the ORCON item; IBET\n   Blaine (Canadian members) gets nothing of the NOFORN"
            " lookout; the officer-safety alert\n   reaches everyone whose area covers Laredo."
        )

    def _phase_two(self) -> None:
        _heading(self.say, "3. CBP grants ICE a third-party disclosure authorization")
        authorization, update = load_phase(PHASE_2, self.now)
        assert isinstance(authorization, DisclosureAuthorization)
        assert isinstance(update, Lookout)
        self._publish([authorization])
        self.say(
            f"   {authorization.authorization_id}: {authorization.kind.value} to "
            f"{authorization.recipient} for case {authorization.case_reference}, purpose "
            f"{authorization.purpose.value}, approved by {authorization.approving_office}, "
            f"valid until {authorization.valid_until:%Y-%m-%d}"
        )
        # It applies to events decided after it reaches the router.
        wait_until_authorizations_applied(self.settings, self.topics.authorizations("cbp"))
        self.say("   the router has applied it")
        self._publish([update])
        feeds = self._await_deliveries()
        self.say("\n   ICE's feed, the two EU PNR lookouts of that case:")
        for event_id, item in feeds["ice"].items():
            if (
                isinstance(item.record, Lookout)
                and item.record.case_reference == update.case_reference
            ):
                pnr = item.record.pnr
                shown = (
                    f"PNR {pnr.record_locator} {pnr.flight_number} {'-'.join(pnr.route)}, "
                    f"{', '.join(pnr.passenger_names)}; rules {', '.join(item.rules)}"
                    if pnr
                    else f"PNR removed; rules {', '.join(item.rules)}"
                )
                self.say(f"   {event_id:<22} {_cell(item):<18} {shown}")

    def _deconfliction(self) -> None:
        """CBP plans to interdict the vessel ICE tracks; two Laredo operations overlap: each
        party gets the other's point of contact, never its case, before anyone acts."""
        _heading(self.say, "4. Deconfliction: who else works this target, this place, now?")
        operations = load_phase(DECONFLICTION, self.now)
        self._publish(operations)
        wait_until_deconflicted(self.settings)
        wait_until_routed(self.settings, ("officer-safety", self.topics.deconflict_notices))
        feeds = self._feeds()
        ours = {_id_of(o) for o in operations} | {"ice-hsi-mia-2026-0193"}
        for recipient in ("cbp", "ice", "best-laredo"):
            shown = [
                item.record
                for item in feeds[recipient].values()
                if isinstance(item.record, DeconflictionNotice)
                and item.record.your_event_id in ours
            ]
            self.say(f"\n   {recipient}'s feed and alerts (intelbus subscribe --as {recipient}):")
            for notice in shown:
                self.say(f"   {deconfliction_line(notice)}")
            if not shown:
                self.say("   (nothing: not a party)")
        if not all(
            any(isinstance(i.record, DeconflictionNotice) for i in feeds[r].values())
            for r in ("cbp", "ice")
        ):
            raise IntelbusError("a deconfliction notice did not reach CBP or ICE")
        self.say(
            "\n   Each party learns whom to call, never the other's case; the operations "
            "themselves\n   reach no feed (the deconfliction service alone reads them)."
        )

    def _lifecycle(self) -> None:
        _heading(self.say, "5. The life of a lookout: an outcome, an update, a withdrawal, a hit")
        outcome, update, withdrawal = load_phase(PHASE_3, self.now)
        assert isinstance(outcome, CaseOutcome)
        assert isinstance(update, Lookout)
        assert isinstance(withdrawal, Withdrawal)
        self._publish([outcome, update, withdrawal])
        wait_until_all_routed(self.settings)
        stop = threading.Event()
        current = {
            r: current_events(read_feed(self._as_subscriber(r), r, False, stop))
            for r in ("ice", "cbp", "best-laredo")
        }
        shown = [
            ("ice", outcome.event_id, "ICE, the originator, hears what came of its lookout"),
            ("cbp", update.event_id, f"version {update.version} of the gang lookout, at CBP"),
            ("best-laredo", update.event_id, "and at BEST Laredo (still only a pointer)"),
            ("cbp", withdrawal.event_id, "CBP withdrew its Blaine lookout"),
        ]
        for recipient, event_id, what in shown:
            self.say(f"\n   {what} (intelbus subscribe --as {recipient} --current):")
            for line in current_line(event_id, current[recipient][event_id]).splitlines():
                self.say(f"   {line}")
        got = (
            current["ice"][outcome.event_id].reports,
            current["cbp"][update.event_id].item,
            current["cbp"][withdrawal.event_id].status,
        )
        if got[0] != (outcome,) or got[1] is None or got[1].record != update:
            raise IntelbusError(f"the outcome or the update did not arrive: {got}")
        if got[2] != "withdrawn":
            raise IntelbusError(f"the withdrawal did not reach CBP: {got[2]}")
        self._hit_confirmed()

    def _hit_confirmed(self) -> None:
        """ICE finds the subject of CBP's PNR lookout at a port; CBP confirms in time."""
        event_id = "cbp-ntc-2026-0417-1"
        hit = HitReport(
            hit_id="ice-hsi-mia-hit-2026-0007",
            event_id=event_id,
            reported_by="ICE",
            reported_at=dt.datetime.now(dt.UTC),
            place="Miami International Airport, Concourse D, HSI interview room 2",
            detail="Subject interviewed on arrival; HSI Miami holding for CBP callback.",
        )
        self._publish([hit])
        wait_until_all_routed(self.settings)
        answer = HitAnswer(
            hit_id=hit.hit_id,
            event_id=event_id,
            answered_by="CBP",
            answered_at=dt.datetime.now(dt.UTC),
            confirmed=True,
            detail="Confirmed: NTC watch officer calling HSI Miami now; hold the subject.",
        )
        self._publish([answer])
        wait_until_all_routed(self.settings)
        stop = threading.Event()
        for recipient, what in (
            ("cbp", "CBP hears of the hit at once"),
            ("ice", "ICE gets the answer"),
        ):
            self.say(f"\n   {what} (intelbus subscribe --as {recipient} --current):")
            feed = read_feed(self._as_subscriber(recipient), recipient, False, stop)
            current = current_events(feed)[event_id]
            for line in current_line(event_id, current).splitlines():
                self.say(f"   {line}")
            if hit not in current.reports and answer not in current.reports:
                raise IntelbusError(f"the hit or its answer did not reach {recipient}")

    def _refused(self, what: str, attempt: Callable[[], object]) -> None:
        try:
            attempt()
        except (NotAuthorized, PublishError) as refused:
            self.say(f"   refused: {what}\n            {refused}")
            return
        raise IntelbusError(f"the wall has a hole: {what} was allowed")

    def _wall(self) -> None:
        _heading(self.say, "6. The wall: the broker, not the client, decides who reads and writes")
        ice = self._as_subscriber("ice")
        stop = threading.Event()
        self._refused(
            "ICE reads CBP's feed",
            lambda: list(read_feed(ice, "cbp", follow=False, stop=stop)),
        )
        self._refused(
            "ICE reads the inbound lookouts CBP published (EU PNR whole)",
            lambda: list(read_to_end(ice, self.topics.lookouts("cbp"))),
        )
        ice_publisher = Publisher(self.settings.as_principal(publisher_principal("ice")))
        authorization, update = load_phase(PHASE_2, self.now)
        assert isinstance(authorization, DisclosureAuthorization)
        forged = authorization.model_copy(update={"authorization_id": "ice-self-grant-1"})
        self._refused(
            "ICE publishes an EU PNR disclosure authorization for itself",
            lambda: ice_publisher.publish(forged),
        )
        assert isinstance(update, Lookout)
        claims_cbp = update.model_copy(update={"event_id": "ice-posing-as-cbp-1"})
        ice_publisher.publish(claims_cbp)
        wait_until_all_routed(self.settings)
        for message in read_to_end(self.settings, self.topics.dead_letter):
            why = DeadLetterHeaders.decode(header_map(message))
            if why.reason == "originator-mismatch":
                self.say(
                    "   dead-lettered: an ICE publisher's lookout claiming CBP as its "
                    f"originator\n            {why.reason}: {why.detail}"
                )
                return
        raise IntelbusError("the wall has a hole: a false originator was not dead-lettered")

    def _audit(self, trusted_keys: dict[str, Ed25519PublicKey]) -> None:
        _heading(self.say, "7. Compliance: the decision log")
        entries = list(read_decision_log(self.reviewer, self.topics.decisions))
        decisions = [e.decision for e in entries if e.decision is not None]
        for line in table(
            ["recipient", "decision", "rule", "count"], report_rows(decisions)
        ).splitlines():
            self.say(f"   {line}")
        onward = [d for d in decisions if d.onward_transfer]
        for d in onward:
            self.say(
                f"   onward transfer logged: {d.event_id} -> {d.recipient} under "
                f"{', '.join(d.authorization_ids)} (decision {d.decision_id})"
            )
        report = verify_bus(self.settings, self.topics.decisions, trusted_keys)
        verdict = "OK" if report.ok else "FAILED"
        self.say(
            f"\n   intelbus audit verify: {verdict}: {report.decisions} decisions in "
            f"{report.chains} chain(s), {report.seals} signed seal(s), "
            f"{report.anchors} committed chain head(s) held"
        )
        for problem in report.problems[:5]:
            self.say(f"   {problem}")

    def _console(self, key: Ed25519PublicKey) -> None:
        """How to open this run's decision log in the compliance console."""
        _heading(self.say, "8. The compliance console")
        directory = self.settings.home / "console" / self.settings.topic_prefix.rstrip(".")
        make_private_directory(directory)
        trusted = directory / "trusted-keys"
        trusted.write_text(f"# the demo router's key\n{public_key_line(key)}\n")
        self.say(
            f"   INTELBUS_TOPIC_PREFIX={self.settings.topic_prefix} intelbus console --dir "
            f"{directory} serve --trusted-keys {trusted}\n"
            f"   then open http://127.0.0.1:8600 and log in as {self.principals.reviewer} with "
            f"the password `intelbus console --dir {directory} password` prints.\n"
            "   Look at: Decisions (search recipient ice, rule eu-pnr; export the result as "
            "CSV); an event's story (click its id: every recipient's decision, what was "
            "removed, the onward transfer under CBP's authorization, the withdrawal); Chains "
            "(every chain verified, when last checked); Reports (decisions per rule and "
            "recipient, EU PNR onward transfers, dead letters by reason); the Live table "
            "fills as the router decides."
        )


def _run(_: argparse.Namespace, settings: Settings) -> int:
    return Demo(settings).run()
