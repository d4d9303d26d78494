"""One thing wrong with the decision log, and where: a record's topic, partition and offset,
and the chain it belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from intelbus.position import Position

__all__ = ["Problem"]


@dataclass(frozen=True)
class Problem:
    # None: nothing of what is wrong is left in the topic (a chain cut off entirely).
    position: Position | None
    chain: str  # "" for a record of no chain (a key rotation)
    what: str

    def sort_key(self) -> tuple[bool, Position, str, str]:
        return (self.position is not None, self.position or _NOWHERE, self.chain, self.what)

    def __str__(self) -> str:
        at = self.position
        parts = [f"{at.topic} partition {at.partition} offset {at.offset}"] if at else []
        parts += [f"chain {self.chain}"] if self.chain else []
        return ": ".join([*parts, self.what])


_NOWHERE = Position("", -1, -1)
