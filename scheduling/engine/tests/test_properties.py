"""Property tests: what the engine offers is exactly what it would accept.

For random clinics (providers with breaks and time off, rooms with equipment, bookings
with buffers and overbooking seats), every slot ``find_slots`` returns passes
``check_slot``, and every grid time ``check_slot`` accepts is offered.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.engine import AppointmentTypeSpec, RoomSpec, check_slot, find_slots
from scheduling.engine.calendar import working_windows

from .builders import BERLIN, MONDAY, at, booking, provider, query, snapshot, storable

CLOCKS = [f"{h:02d}:{m:02d}" for h in range(8, 13) for m in (0, 15, 30, 45)]


@st.composite
def clinics(draw):
    rooms = [RoomSpec("r1"), RoomSpec("r2", frozenset({"ecg"})), RoomSpec("r3", frozenset({"ecg"}))][
        : draw(st.integers(1, 3))
    ]
    providers = [
        provider(
            "dr-a",
            ("08:00", "10:00"),
            ("10:30", "13:00"),
            time_off=[(at(MONDAY, "11:00"), at(MONDAY, "11:20"))],
        ),
        provider("dr-b", ("08:10", "12:40")),
    ]
    bookings = []
    for _ in range(draw(st.integers(0, 8))):
        bookings.append(
            booking(
                draw(st.sampled_from(["dr-a", "dr-b"])),
                draw(st.sampled_from([r.code for r in rooms])),
                at(MONDAY, draw(st.sampled_from(CLOCKS))),
                draw(st.sampled_from([15, 30, 45])),
                patient=draw(st.sampled_from(["p-1", "p-2", "p-3"])),
                seat=draw(st.sampled_from([0, 0, 0, 1])),
                after=draw(st.sampled_from([0, 10])),
            )
        )
    kept = storable(bookings)  # no two overlap where the database would refuse it
    kind = draw(
        st.sampled_from(
            [
                AppointmentTypeSpec("consult", 30),
                AppointmentTypeSpec(
                    "ecg", 30, buffer_after_minutes=10, required_equipment=frozenset({"ecg"})
                ),
                AppointmentTypeSpec("prep", 15, buffer_before_minutes=10),
            ]
        )
    )
    rules = draw(st.sampled_from([[], [{"max_extra": 1}], [{"max_extra": 2, "provider": "dr-a"}]]))
    snap = snapshot(
        providers=providers, rooms=rooms, bookings=kept, rules=rules, now=at(MONDAY, "08:20"), slot_minutes=15
    )
    return snap, kind, draw(st.sampled_from([None, "p-1"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clinics())
def test_offered_is_exactly_accepted(case):
    snap, kind, patient = case
    q = query(kind, patient=patient)
    offered = {(s.provider, s.start): s for s in find_slots(snap, q).slots}
    for slot in offered.values():
        verdict = check_slot(
            snap, q, provider=slot.provider, room=slot.room, start=slot.start, overbook=slot.overbook
        )
        assert verdict.ok, (slot, verdict)
        assert verdict.seat == slot.seat
    for spec in snap.providers:
        for window in working_windows(spec, MONDAY, BERLIN):
            moment = window.start - dt.timedelta(minutes=30)
            while moment < window.end + dt.timedelta(minutes=30):
                accepted = [
                    (room.code, overbook)
                    for room in snap.rooms
                    for overbook in (False, True)
                    if check_slot(
                        snap, q, provider=spec.code, room=room.code, start=moment, overbook=overbook
                    ).ok
                ]
                if accepted:
                    assert (spec.code, moment) in offered, (spec.code, moment, accepted)
                    assert offered[(spec.code, moment)].overbook == all(o for _, o in accepted)
                else:
                    assert (spec.code, moment) not in offered
                moment += dt.timedelta(minutes=5)
