"""Working windows that overlap or touch: one stretch of work, each start offered once.

Table-driven, no database: the snapshot is built by hand, as a caller that bypassed the
database's refusal of overlapping hours could build it.
"""

from __future__ import annotations

import datetime as dt

import pytest

from scheduling.engine import AppointmentTypeSpec, check_slot, find_slots
from scheduling.engine.calendar import working_windows

from .builders import BERLIN, MONDAY, at, grid, provider, query, snapshot

HOUR = AppointmentTypeSpec("long", 60)


def local(moment: dt.datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%H:%M")


WINDOWS = [
    pytest.param([("08:00", "10:00"), ("09:00", "11:00")], [("08:00", "11:00")], id="overlapping"),
    pytest.param([("09:00", "11:00"), ("08:00", "10:00")], [("08:00", "11:00")], id="overlapping-unsorted"),
    pytest.param([("08:00", "10:00"), ("10:00", "12:00")], [("08:00", "12:00")], id="abutting"),
    pytest.param([("08:00", "12:00"), ("09:00", "10:00")], [("08:00", "12:00")], id="contained"),
    pytest.param([("08:00", "10:00"), ("08:00", "10:00")], [("08:00", "10:00")], id="duplicated"),
    pytest.param(
        [("08:00", "10:00"), ("09:30", "10:30"), ("10:30", "11:00"), ("13:00", "14:00")],
        [("08:00", "11:00"), ("13:00", "14:00")],
        id="chain-then-break",
    ),
    pytest.param(
        [("08:00", "10:00"), ("11:00", "12:00")], [("08:00", "10:00"), ("11:00", "12:00")], id="break-kept"
    ),
]


@pytest.mark.parametrize(("hours", "expected"), WINDOWS)
def test_windows_that_overlap_or_touch_are_merged(hours, expected):
    windows = working_windows(provider("dr-a", *hours), MONDAY, BERLIN)

    assert [(local(w.start), local(w.end)) for w in windows] == expected


OFFERS = [
    pytest.param([("08:00", "10:00"), ("09:00", "11:00")], None, grid("08:00", "10:30"), id="overlapping"),
    pytest.param([("09:00", "11:00"), ("08:00", "10:00")], None, grid("08:00", "10:30"), id="unsorted"),
    pytest.param([("08:00", "10:00"), ("08:00", "10:00")], None, grid("08:00", "09:30"), id="duplicated"),
    pytest.param([("08:00", "12:00"), ("09:00", "10:00")], None, grid("08:00", "11:30"), id="contained"),
    # One stretch: an hour-long appointment may run across the seam at 10:00.
    pytest.param([("08:00", "10:00"), ("10:00", "12:00")], HOUR, grid("08:00", "11:00"), id="abutting"),
    # The 15-minute grid runs on from 08:00, not from the second window's 09:10.
    pytest.param(
        [("08:00", "09:30"), ("09:10", "10:00")], None, grid("08:00", "09:30"), id="grid-from-first"
    ),
]


@pytest.mark.parametrize(("hours", "appointment_type", "expected"), OFFERS)
def test_each_start_is_offered_once_however_the_windows_overlap(hours, appointment_type, expected):
    snap = snapshot(providers=[provider("dr-a", *hours)])
    q = query(appointment_type) if appointment_type else query()

    offered = [local(s.start) for s in find_slots(snap, q).slots]

    assert sorted(offered) == expected  # a list, not a set: a start offered twice shows
    for start in expected:
        verdict = check_slot(snap, q, provider="dr-a", room="r1", start=at(MONDAY, start))
        assert verdict.ok, (start, verdict.reason)
