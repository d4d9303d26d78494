"""The seed scenarios of the brief, as the demo publishes them (and the end-to-end test).

Phase 1: CBP interdicts a vessel ICE has been tracking (Miami); a CBP lookout carrying EU
PNR; an ICE operation in a remote Border Patrol sector (officer-safety alert); a BEST Laredo
gang lookout (ORCON); a NOFORN lookout at Blaine. Phase 2: CBP grants ICE a third-party
disclosure authorization for the PNR case, then the next lookout of that case arrives.
Phase 3, the life of a lookout: CBP reports the seizure on LADY MARISOL (it reaches ICE, the
originator), ICE updates its gang lookout, CBP withdraws the Blaine lookout. Before it,
deconfliction: CBP Air and Marine plans to interdict LADY MARISOL, which ICE tracks, and two
operations in the Laredo sector overlap (the inspector general's report, seeds/000).
"""

from __future__ import annotations

import datetime as dt

from intelbus.models import (
    CaseOutcome,
    DisclosureAuthorization,
    Lookout,
    OfficerSafetyAlert,
    Operation,
    Record,
    Withdrawal,
)
from services.examples import EXAMPLES_DIR, load_example

__all__ = ["DECONFLICTION", "PHASE_1", "PHASE_2", "PHASE_3", "TITLES", "load_phase"]

PHASE_1: list[tuple[type[Record], str]] = [
    (Lookout, "lookouts/miami-vessel-tracked-by-ice.json"),
    (Lookout, "lookouts/eu-pnr-ntc.json"),
    (OfficerSafetyAlert, "alerts/laredo-remote-operation.json"),
    (Lookout, "lookouts/best-laredo-gang.json"),
    (Lookout, "lookouts/blaine-noforn.json"),
]
PHASE_2: list[tuple[type[Record], str]] = [
    (DisclosureAuthorization, "authorizations/cbp-grants-ice-pnr-disclosure.json"),
    (Lookout, "lookouts/eu-pnr-ntc-update.json"),
]
# Published after phase 2, before the seizure of phase 3: operations, for deconfliction only.
DECONFLICTION: list[tuple[type[Record], str]] = [
    (Operation, "operations/amo-interdiction-lady-marisol.json"),
    (Operation, "operations/laredo-hsi-stash-house.json"),
    (Operation, "operations/laredo-usbp-sensor-line.json"),
]
# Published once phase 1 is routed: an outcome is reported on a lookout its reporter holds.
PHASE_3: list[tuple[type[Record], str]] = [
    (CaseOutcome, "outcomes/miami-vessel-seizure.json"),
    (Lookout, "updates/best-laredo-gang-v2.json"),
    (Withdrawal, "withdrawals/blaine-noforn-withdrawn.json"),
]

# Short titles for people, by event (or authorization) id.
TITLES = {
    "ice-hsi-mia-2026-0193": "ICE-tracked vessel LADY MARISOL (Miami)",
    "cbp-ntc-2026-0417-1": "CBP NTC lookout carrying EU PNR",
    "ice-hsi-lrd-os-2026-0031": "ICE operation near Zapata: officer safety",
    "ice-hsi-lrd-2026-0588": "ICE gang lookout, LES/ORCON (Laredo)",
    "cbp-ofo-blw-2026-0077": "CBP lookout, LES/NOFORN (Blaine)",
    "cbp-ntc-2026-0417-2": "next EU PNR lookout of case NTC-2026-0417",
    "cbp-amo-mia-out-2026-0044": "CBP outcome: seizure on LADY MARISOL",
    "cbp-tpr-2026-0031": "CBP disclosure authorization for ICE",
    "ice-hsi-mia-hit-2026-0007": "ICE hit on the CBP PNR lookout (Miami airport)",
    "cbp-amo-miami-2026-0142": "CBP AMO interdiction of LADY MARISOL (Miami)",
    "ice-hsi-lrt-2026-0311": "ICE HSI operation north of Laredo",
    "cbp-usbp-lrt-2026-0877": "Border Patrol sensor-line operation, Laredo",
}


def load_phase(phase: list[tuple[type[Record], str]], now: dt.datetime) -> list[Record]:
    """The phase's examples, moved in time so that they read as written today."""
    return [load_example(EXAMPLES_DIR / path, model, now) for model, path in phase]
