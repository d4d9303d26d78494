"""A lane's codec wiring: the readers of what it consumes and the codecs of what it writes,
with the schema ids the registry gave our schemas."""

from __future__ import annotations

from dataclasses import dataclass

from intelbus import serde
from intelbus.models import (
    ChainSeal,
    DisclosureAuthorization,
    LifecycleNotice,
    Pointer,
    PolicyDecision,
    Record,
)
from intelbus.reader import ContractReader
from intelbus.serde import FastCodec
from intelbus.settings import Settings

__all__ = ["Codecs", "LaneSerdes"]


@dataclass(frozen=True)
class Codecs:
    """What a lane writes: redacted views (the events' own codec), pointers, lifecycle
    notices, decision records and chain seals."""

    event: FastCodec
    pointer: FastCodec
    notice: FastCodec
    decision: FastCodec
    seal: FastCodec


@dataclass(frozen=True)
class LaneSerdes:
    """The lane's readers of its inbound events and of authorizations, and its codecs."""

    events: ContractReader
    authorizations: ContractReader
    codecs: Codecs

    @classmethod
    def create(
        cls, settings: Settings, event_model: type[Record], *also: type[Record]
    ) -> LaneSerdes:
        """Serdes of a lane that reads ``event_model`` (and ``also``: withdrawals)."""
        client = serde.registry_client(settings)

        def codec(model: type[Record]) -> FastCodec:
            return FastCodec.registered(client, model, settings.schemas_dir)

        events = ContractReader.connect(settings, [event_model, *also], client)
        return cls(
            events,
            ContractReader.connect(settings, [DisclosureAuthorization], client),
            Codecs(
                events.codec(event_model),
                codec(Pointer),
                codec(LifecycleNotice),
                codec(PolicyDecision),
                codec(ChainSeal),
            ),
        )
