"""The search agrees with the reference engine (reference.py) slot for slot: the same
slots, in the same order, with the same rooms, seats, scores, factors and explanations,
and the same total, on random clinics over several days (a DST change among them), with
and without preferences, overbooking, buffers, limits and a provider filter.

The search asks its questions of whole windows as bits and scores classes of starts;
the reference asks them start by start. Any disagreement is a bug in one of them.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.engine import (
    AppointmentTypeSpec,
    PatientPreferences,
    RoomSpec,
    Weights,
    find_slots,
)
from scheduling.engine.types import ClinicRules, OverbookingRule, Snapshot

from . import reference
from .builders import BERLIN, at, booking, provider, query, storable

# The week of the spring DST change in Berlin (Sunday 2027-03-28, 02:00 -> 03:00).
DAYS = [dt.date(2027, 3, 22) + dt.timedelta(days=i) for i in range(7)]
CLOCKS = [f"{h:02d}:{m:02d}" for h in (0, 1, 3, 8, 9, 10, 11, 12, 13) for m in (0, 10, 15, 30, 45)]

TYPES = [
    AppointmentTypeSpec("consult", 30),
    AppointmentTypeSpec("short", 15),
    AppointmentTypeSpec("ecg", 30, buffer_after_minutes=10, required_equipment=frozenset({"ecg"})),
    AppointmentTypeSpec("prep", 15, buffer_before_minutes=10),
    AppointmentTypeSpec("long", 45, buffer_before_minutes=5, buffer_after_minutes=15),
]


@st.composite
def cases(draw):
    rooms = [RoomSpec("r1"), RoomSpec("r2", frozenset({"ecg"})), RoomSpec("r3", frozenset({"ecg", "us"}))][
        : draw(st.integers(1, 3))
    ]
    providers = [
        provider(
            "dr-a",
            ("08:00", "10:00"),
            ("10:30", "13:00"),
            time_off=[
                (at(DAYS[0], "11:00"), at(DAYS[0], "11:20")),
                (at(DAYS[2], "07:00"), at(DAYS[2], "09:10")),
            ],
        ),
        provider("dr-b", ("08:10", "12:40")),
        provider("dr-c", ("00:00", "04:00"), ("09:00", "09:50")),  # through the DST change
    ]
    bookings = []
    for _ in range(draw(st.integers(0, 30))):
        bookings.append(
            booking(
                draw(st.sampled_from(["dr-a", "dr-b", "dr-c"])),
                draw(st.sampled_from([r.code for r in rooms])),
                at(draw(st.sampled_from(DAYS[:4] + DAYS[6:])), draw(st.sampled_from(CLOCKS))),
                draw(st.sampled_from([15, 20, 30, 45])),
                patient=draw(st.sampled_from(["p-1", "p-2", "p-3", "p-4"])),
                seat=draw(st.sampled_from([0, 0, 0, 1, 2])),
                before=draw(st.sampled_from([0, 0, 5])),
                after=draw(st.sampled_from([0, 10])),
            )
        )
    kept = storable(bookings)  # no two overlap where the database would refuse it
    rules = draw(
        st.sampled_from(
            [
                [],
                [OverbookingRule(1)],
                [OverbookingRule(2, provider="dr-a")],
                [
                    OverbookingRule(1),
                    OverbookingRule(0, provider="dr-b"),
                    OverbookingRule(3, "dr-c", "consult"),
                ],
            ]
        )
    )
    weights = draw(
        st.sampled_from(
            [Weights(), Weights(0.1, 0.5, 0.3, 0.1), Weights(0.33, 0.33, 0.33, 0.01), Weights(0, 1, 0, 0)]
        )
    )
    snap = Snapshot(
        rules=ClinicRules(
            tz=BERLIN,
            slot_minutes=draw(st.sampled_from([5, 10, 15, 20])),
            min_notice_minutes=draw(st.sampled_from([0, 60])),
            weights=weights,
            closures=frozenset(draw(st.sampled_from([[], [DAYS[1]]]))),
        ),
        providers=tuple(providers),
        rooms=tuple(rooms),
        bookings=tuple(kept),
        overbooking_rules=tuple(rules),
        shortest_type_minutes=draw(st.sampled_from([15, 30])),
        now=at(DAYS[0], draw(st.sampled_from(["07:00", "09:05", "12:00"]))),
    )
    preferences = draw(
        st.sampled_from(
            [
                PatientPreferences(),
                PatientPreferences(providers=frozenset({"dr-b"})),
                PatientPreferences(days=frozenset({0, 6})),
                PatientPreferences(
                    providers=frozenset({"dr-a"}),
                    times=((dt.time(8, 30), dt.time(10)), (dt.time(1), dt.time(3, 30))),
                ),
            ]
        )
    )
    first = draw(st.sampled_from(range(len(DAYS))))
    q = query(
        draw(st.sampled_from(TYPES)),
        day=DAYS[first],
        to=DAYS[min(first + draw(st.integers(0, 6)), len(DAYS) - 1)],
        provider=draw(st.sampled_from([None, None, "dr-a", "dr-c"])),
        patient=draw(st.sampled_from([None, "p-1"])),
        preferences=preferences,
        include_overbooking=draw(st.booleans()),
    )
    return snap, q, draw(st.sampled_from([None, 1, 3, 20, 1000]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_search_agrees_with_the_reference_engine(case):
    snap, q, limit = case
    assert find_slots(snap, q, limit=limit) == reference.find_slots(snap, q, limit=limit)
