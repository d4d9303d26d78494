"""Check a bus: read it (consumers/checker/observed.py), its publishers' ack logs and its
subscribers' receipts, and hold them to exactly once (consumers/checker/analysis.py).

Run it once the bus is quiet (publishers done, the router caught up): it reads each topic to
where it ends when the read begins, so a transaction committing meanwhile could show a
decision without its delivery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consumers.audit.anchors import Anchor
from consumers.audit.verify import verify_log
from consumers.checker.analysis import check
from consumers.checker.observed import observe
from consumers.checker.receipts import read_receipts
from consumers.checker.report import CheckReport
from intelbus.access.principals import load_principals
from intelbus.acks import read_acks
from intelbus.errors import IntelbusError
from intelbus.settings import Settings

__all__ = ["check_bus"]


def check_bus(
    settings: Settings,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    anchors: Sequence[Anchor],
    ack_logs: Sequence[Path] = (),
    receipts: Mapping[str, Path] | None = None,
) -> CheckReport:
    """The report on the bus of ``settings`` (its topic prefix): its chains verified as
    ``intelbus audit verify`` does, with ``trusted_keys`` and against ``anchors`` (the
    router's committed chain heads); ``receipts`` maps a recipient to what its subscriber
    handled."""
    principals = load_principals(settings.policies_dir)
    unknown = sorted(set(receipts or {}) - set(principals.recipients))
    if unknown:
        raise IntelbusError(
            f"unknown recipient(s) {', '.join(unknown)}; known: {', '.join(principals.recipients)}"
        )
    acks = [ack for path in ack_logs for ack in read_acks(path)]
    handled = {recipient: list(read_receipts(path)) for recipient, path in (receipts or {}).items()}
    observed = observe(
        settings, principals.recipients, [publisher.id for publisher in principals.publishers]
    )
    chains = verify_log(observed.entries, trusted_keys, anchors)
    return check(observed, principals.recipients, chains, acks, handled)
