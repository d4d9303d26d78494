"""Whether a PNR is EU PNR: recognized from its itinerary, not taken from its label.

The airport table is OurAirports' data as the ``airportsdata`` package ships it (IATA code ->
ISO country), loaded once."""

from __future__ import annotations

import functools

import airportsdata

from intelbus.models import PnrExtract, PnrSourceRegion

__all__ = ["eu_pnr_reason"]


@functools.cache
def _airport_countries() -> dict[str, str]:
    return {code: airport["country"] for code, airport in airportsdata.load("IATA").items()}


def eu_pnr_reason(pnr: PnrExtract, eu_countries: frozenset[str]) -> str | None:
    """Why ``pnr`` is EU PNR (its label, an EU/EEA airport on its route, or an airport the
    table does not know), or None when it is not."""
    if pnr.source_region is PnrSourceRegion.EU:
        return "labelled EU PNR"
    countries = _airport_countries()
    for code in pnr.route:
        country = countries.get(code.upper())
        if country is None:
            return f"its route has {code!r}, an airport code nobody knows: treated as EU PNR"
        if country in eu_countries:
            return f"its route touches {code} ({country}): EU PNR whatever its label"
    return None
