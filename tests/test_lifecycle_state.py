"""The lookout lane's event state without a broker: deadlines fire once, follow updates,
and come back when the transaction that fired them is aborted."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from services.router.lifecycle import EXPIRY, MAX_STATE_BYTES, EventState, Lifecycle, millis

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def _state(event_id: str, expires: dt.datetime, version: int = 1) -> EventState:
    return EventState(event_id, "CBP", version, millis(expires), ("t", 2, 7), {"cbp": "deliver"})


def test_a_deadline_fires_once_when_due() -> None:
    book = Lifecycle()
    book.put(_state("a", T0 + dt.timedelta(seconds=5)))
    book.commit()
    assert book.due(T0) == []
    assert book.next_deadline() == T0 + dt.timedelta(seconds=5)
    assert book.due(T0 + dt.timedelta(seconds=5)) == [("a", EXPIRY)]
    assert book.due(T0 + dt.timedelta(hours=1)) == []


def test_an_update_moves_the_deadline() -> None:
    book = Lifecycle()
    book.put(_state("a", T0 + dt.timedelta(seconds=5)))
    book.put(_state("a", T0 + dt.timedelta(seconds=50), version=2))
    book.commit()
    assert book.due(T0 + dt.timedelta(seconds=10)) == []
    assert book.due(T0 + dt.timedelta(seconds=50)) == [("a", EXPIRY)]


def test_an_aborted_expiry_fires_again_and_a_closed_event_never() -> None:
    book = Lifecycle()
    book.put(_state("a", T0))
    book.commit()
    assert book.due(T0) == [("a", EXPIRY)]
    state = book.get("a")
    assert state is not None
    book.put(replace(state, held={}, closed="expired"))
    book.rollback()  # the transaction with the notices did not commit
    assert book.due(T0) == [("a", EXPIRY)]
    book.put(replace(state, held={}, closed="expired"))
    book.commit()
    book.load(())  # deadlines re-armed from the committed state
    assert book.due(T0 + dt.timedelta(days=1)) == []


def test_state_round_trips_and_is_bounded_before_parsing() -> None:
    state = _state("a", T0)
    assert EventState.decode(state.encode()) == state
    with pytest.raises(ValueError, match="at most"):
        EventState.decode(b" " * (MAX_STATE_BYTES + 1))


def test_dropping_a_partition_forgets_its_events() -> None:
    book = Lifecycle()
    book.put(_state("a", T0))
    book.commit()
    book.drop({2})
    assert book.get("a") is None
    assert book.due(T0) == []


def test_a_deadline_put_again_fires_once() -> None:
    """Every version (and every hit) puts the event's deadlines again: one fires once."""
    book = Lifecycle()
    for version in (1, 2, 3):
        book.put(_state("a", T0, version=version))
    book.commit()
    assert book.due(T0) == [("a", EXPIRY)]


def test_an_open_hit_escalates_once_and_an_answered_one_never() -> None:
    book = Lifecycle()
    hits = {
        "h1": {"reporter": "ICE", "deadline_ms": millis(T0), "status": "open"},
        "h2": {"reporter": "ICE", "deadline_ms": millis(T0), "status": "confirmed"},
    }
    book.put(replace(_state("a", T0 + dt.timedelta(days=1)), hits=hits))
    book.commit()
    assert book.due(T0) == [("a", "h1")]
    assert book.due(T0) == []
