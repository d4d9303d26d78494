"""The recorded disclosure authorizations the router knows, and which of them cover a delivery.

The router rebuilds this book from the approving agencies' compacted authorizations topics:
the latest record per authorization id wins (a revocation is a new record with
``revoked: true``). Who approved an authorization is the agency whose topic it arrived on
(only that agency's principal may write there), never what its text says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from intelbus.models import AuthorizationKind, DeclaredPurpose, DisclosureAuthorization

__all__ = ["AuthorizationBook"]


class AuthorizationBook:
    def __init__(
        self, authorizations: Iterable[DisclosureAuthorization] = (), approved_by: str = ""
    ) -> None:
        self._by_id: dict[str, DisclosureAuthorization] = {}
        self._approver: dict[str, str] = {}
        self._index: dict[tuple[str, AuthorizationKind], dict[str, DisclosureAuthorization]] = {}
        for authorization in authorizations:
            self.put(authorization, approved_by)

    def put(self, authorization: DisclosureAuthorization, approved_by: str) -> None:
        """Add or replace (by id) an authorization that ``approved_by`` (an agency) issued."""
        self.remove(authorization.authorization_id)
        self._by_id[authorization.authorization_id] = authorization
        self._approver[authorization.authorization_id] = approved_by.upper()
        key = (authorization.recipient, authorization.kind)
        self._index.setdefault(key, {})[authorization.authorization_id] = authorization

    def remove(self, authorization_id: str, approved_by: str | None = None) -> None:
        """Forget an authorization (a tombstone on the compacted topic): only its approver's
        tombstone counts when ``approved_by`` is given."""
        if approved_by is not None and self._approver.get(authorization_id) != approved_by.upper():
            return
        old = self._by_id.pop(authorization_id, None)
        self._approver.pop(authorization_id, None)
        if old is not None:
            self._index[(old.recipient, old.kind)].pop(authorization_id, None)

    def __len__(self) -> int:
        return len(self._by_id)

    def covering(
        self,
        kind: AuthorizationKind,
        recipient: str,
        *,
        event_id: str,
        case_reference: str | None,
        at: dt.datetime,
        purpose: DeclaredPurpose | None = None,
        case_only: bool = False,
        approving_agency: str | None = None,
    ) -> DisclosureAuthorization | None:
        """The first active authorization of ``kind`` for ``recipient`` covering the event.

        Active: not revoked and ``valid_from <= at < valid_until``. Covering: it names the
        event, or the event's case (``case_only``: only the case counts). ``purpose`` and
        ``approving_agency``, when given, must be the agency that issued it.
        """
        for authorization in self._index.get((recipient, kind), {}).values():
            if authorization.revoked or not (
                authorization.valid_from <= at < authorization.valid_until
            ):
                continue
            by_case = case_reference is not None and authorization.case_reference == case_reference
            by_event = not case_only and authorization.event_id == event_id
            if not (by_case or by_event):
                continue
            if purpose is not None and authorization.purpose != purpose:
                continue
            approver = self._approver[authorization.authorization_id]
            if approving_agency is not None and approver != approving_agency.upper():
                continue
            return authorization
        return None
