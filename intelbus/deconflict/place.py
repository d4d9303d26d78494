"""Where and when an operation runs, and whether two overlap.

Two operations overlap when their windows intersect (an end is exclusive: one ending at
08:00 and one starting at 08:00 do not) and their places do: a shared sector or port code
(case and spaces ignored), or circles closer than the sum of their radii (great-circle
distance on a sphere of the Earth's mean radius: metres off at these ranges, well inside
any radius an operation declares).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from intelbus.models import OperationPlace

__all__ = ["EARTH_RADIUS_KM", "Place", "distance_km"]

EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine great-circle distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Place:
    codes: frozenset[str]
    circle: tuple[float, float, float] | None  # latitude, longitude, radius in km
    start_ms: int
    end_ms: int

    @classmethod
    def of(cls, where: OperationPlace, start: dt.datetime, end: dt.datetime) -> Place:
        circle = None
        if where.latitude is not None and where.longitude is not None and where.radius_km:
            circle = (where.latitude, where.longitude, where.radius_km)
        return cls(
            frozenset("".join(code.split()).upper() for code in where.area_codes),
            circle,
            int(start.timestamp() * 1000),
            int(end.timestamp() * 1000),
        )

    def overlaps(self, other: Place) -> bool:
        if not (self.start_ms < other.end_ms and other.start_ms < self.end_ms):
            return False
        if self.codes & other.codes:
            return True
        if self.circle is None or other.circle is None:
            return False
        (la1, lo1, r1), (la2, lo2, r2) = self.circle, other.circle
        return distance_km(la1, lo1, la2, lo2) < r1 + r2

    def to_json(self) -> dict[str, Any]:
        return {
            "codes": sorted(self.codes),
            "circle": list(self.circle) if self.circle else None,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Place:
        circle = data["circle"]
        return cls(
            frozenset(str(c) for c in data["codes"]),
            (float(circle[0]), float(circle[1]), float(circle[2])) if circle else None,
            int(data["start_ms"]),
            int(data["end_ms"]),
        )
