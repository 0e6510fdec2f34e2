"""Table-driven engine tests: no database, no Django."""

from __future__ import annotations

import ast
import datetime as dt
import pathlib
from dataclasses import replace

import pytest

from scheduling.engine import AppointmentTypeSpec, RoomSpec, check_slot, find_slots
from scheduling.engine.rules import max_extra_seats
from scheduling.engine.types import OverbookingRule, PatientPreferences

from .builders import BERLIN, CONSULT, MONDAY, NEW_YORK, at, booking, grid, provider, query, snapshot, starts

ALL_MORNING = [f"{h:02d}:{m:02d}" for h in range(8, 12) for m in (0, 15, 30, 45)][:-1]  # 08:00..11:30


def without(values: list[str], *removed: str) -> list[str]:
    return [v for v in values if v not in removed]


CASES = [
    pytest.param({}, {}, ALL_MORNING[:-1] + ["11:30"], id="plain-window-grid"),
    pytest.param(
        {"providers": [provider("dr-a", ("08:00", "10:00"), ("11:00", "12:00"))]},
        {},
        grid("08:00", "09:30") + grid("11:00", "11:30"),
        id="break-between-windows",
    ),
    pytest.param(
        {"providers": [provider("dr-a", ("08:10", "09:10"))]},
        {},
        ["08:10", "08:25", "08:40"],
        id="grid-from-window-start",
    ),
    pytest.param(
        {},
        {"appointment_type": AppointmentTypeSpec("ecg", 30, buffer_before_minutes=10)},
        grid("08:15", "11:30"),
        id="buffer-before-at-window-start",
    ),
    pytest.param(
        {},
        {"appointment_type": AppointmentTypeSpec("ecg", 30, buffer_after_minutes=10)},
        grid("08:00", "11:15"),
        id="buffer-after-at-window-end",
    ),
    pytest.param(
        {"providers": [provider("dr-a", time_off=[(at(MONDAY, "09:00"), at(MONDAY, "10:00"))])]},
        {},
        without(ALL_MORNING, "08:45", "09:00", "09:15", "09:30", "09:45"),
        id="time-off",
    ),
    pytest.param({"closures": frozenset({MONDAY})}, {}, [], id="closure"),
    pytest.param(
        {"bookings": [booking("dr-a", "r9", at(MONDAY, "09:00"))]},
        {},
        without(ALL_MORNING, "08:45", "09:00", "09:15"),
        id="provider-booked",
    ),
    pytest.param(
        {"bookings": [booking("dr-a", "r9", at(MONDAY, "09:00"), after=15)]},
        {},
        without(ALL_MORNING, "08:45", "09:00", "09:15", "09:30"),
        id="booked-with-buffer",
    ),
    pytest.param(
        {"bookings": [booking("dr-b", "r1", at(MONDAY, "09:00"))]},
        {},
        without(ALL_MORNING, "08:45", "09:00", "09:15"),
        id="only-room-taken-by-other-provider",
    ),
    pytest.param(
        {"bookings": [booking("dr-b", "r1", at(MONDAY, "09:00"))], "rooms": [RoomSpec("r1"), RoomSpec("r2")]},
        {},
        ALL_MORNING,
        id="other-room-free",
    ),
    pytest.param(
        {"bookings": [booking("dr-b", "r1", at(MONDAY, "09:00"), patient="p-1")]},
        {"patient": "p-1"},
        without(ALL_MORNING, "08:45", "09:00", "09:15"),
        id="patient-busy",
    ),
    pytest.param(
        {"bookings": [booking("dr-b", "r9", at(MONDAY, "09:00"), patient="p-1", after=30)]},
        {"patient": "p-1"},
        without(ALL_MORNING, "08:45", "09:00", "09:15"),
        id="patient-not-blocked-by-buffers",
    ),
    pytest.param(
        {"rooms": [RoomSpec("r1")]},
        {"appointment_type": AppointmentTypeSpec("ecg", 30, required_equipment=frozenset({"ecg"}))},
        [],
        id="no-room-with-equipment",
    ),
    pytest.param(
        {"rooms": [RoomSpec("r1"), RoomSpec("r2", frozenset({"ecg"}))]},
        {"appointment_type": AppointmentTypeSpec("ecg", 30, required_equipment=frozenset({"ecg"}))},
        ALL_MORNING,
        id="room-with-equipment",
    ),
    pytest.param(
        {},
        {"appointment_type": AppointmentTypeSpec("x", 30, providers=frozenset({"dr-z"}))},
        [],
        id="provider-not-allowed",
    ),
    pytest.param({"now": at(MONDAY, "09:05")}, {}, grid("09:15", "11:30"), id="past-times-excluded"),
    pytest.param(
        {"now": at(MONDAY, "09:05"), "min_notice_minutes": 60}, {}, grid("10:15", "11:30"), id="min-notice"
    ),
    pytest.param(
        {"now": at(MONDAY - dt.timedelta(days=3), "12:00"), "booking_horizon_days": 2},
        {},
        [],
        id="beyond-horizon",
    ),
    pytest.param(
        {"now": at(MONDAY - dt.timedelta(days=3), "12:00"), "booking_horizon_days": 3},
        {},
        ALL_MORNING,
        id="horizon-last-day-included",
    ),
]


@pytest.mark.parametrize(("snap", "q", "expected"), CASES)
def test_slot_starts(snap, q, expected):
    result = find_slots(snapshot(**snap), query(**q))
    assert starts(result) == sorted(expected)


def test_each_provider_and_start_is_offered_once_with_the_best_room():
    snap = snapshot(rooms=[RoomSpec("r2"), RoomSpec("r1")], providers=[provider("dr-a"), provider("dr-b")])
    result = find_slots(snap, query())
    keys = [(s.provider, s.start) for s in result.slots]
    assert len(keys) == len(set(keys)) == 2 * len(ALL_MORNING)
    assert {s.room for s in result.slots} == {"r1"}  # equal rooms: the lowest code


def test_specialised_rooms_are_kept_for_the_types_that_need_them():
    snap = snapshot(rooms=[RoomSpec("r1", frozenset({"ecg"})), RoomSpec("r2")])
    assert {s.room for s in find_slots(snap, query()).slots} == {"r2"}


@pytest.mark.parametrize(
    ("tz", "day", "expected_hours"),
    [
        pytest.param(BERLIN, dt.date(2027, 3, 28), 5, id="berlin-spring-forward"),
        pytest.param(BERLIN, dt.date(2027, 10, 31), 7, id="berlin-fall-back"),
        pytest.param(BERLIN, dt.date(2027, 3, 21), 6, id="berlin-ordinary-sunday"),
        pytest.param(NEW_YORK, dt.date(2027, 3, 14), 5, id="new-york-spring-forward"),
        pytest.param(NEW_YORK, dt.date(2027, 11, 7), 7, id="new-york-fall-back"),
    ],
)
def test_dst_days_have_their_real_length(tz, day, expected_hours):
    snap = snapshot(tz=tz, providers=[provider("dr-a", ("00:00", "06:00"))])
    result = find_slots(snap, query(day=day))
    # 30-minute appointments every 15 real minutes: 4 per hour, minus the last 15 minutes.
    assert result.total == expected_hours * 4 - 1
    gaps = {
        b.start - a.start
        for a, b in zip(
            sorted(result.slots, key=lambda s: s.start)[:-1],
            sorted(result.slots, key=lambda s: s.start)[1:],
            strict=True,
        )
    }
    assert gaps == {dt.timedelta(minutes=15)}
    for slot in result.slots:
        assert slot.end - slot.start == dt.timedelta(minutes=30)


def test_dst_day_office_hours_keep_their_wall_clock():
    snap = snapshot(providers=[provider("dr-a", ("08:00", "12:00"))])
    result = find_slots(snap, query(day=dt.date(2027, 3, 29)))  # the Monday after the change
    assert starts(result) == ALL_MORNING
    assert result.slots[0].start.astimezone(BERLIN).utcoffset() == dt.timedelta(hours=2)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([], 0),
        ([{"max_extra": 1}], 1),
        ([{"max_extra": 1}, {"max_extra": 3, "provider": "dr-a"}], 3),
        (
            [
                {"max_extra": 1},
                {"max_extra": 3, "provider": "dr-a"},
                {"max_extra": 0, "provider": "dr-a", "appointment_type": "consult"},
            ],
            0,
        ),
        ([{"max_extra": 2, "provider": "dr-b"}], 0),
        ([{"max_extra": 2, "provider": "dr-a", "appointment_type": "other"}, {"max_extra": 1}], 1),
    ],
)
def test_most_specific_overbooking_rule_wins(rules, expected):
    assert max_extra_seats([OverbookingRule(**r) for r in rules], "dr-a", "consult") == expected


def test_overbooking_seats_are_offered_only_where_seat_zero_is_taken():
    snap = snapshot(
        rooms=[RoomSpec("r1"), RoomSpec("r2")],
        bookings=[booking("dr-a", "r1", at(MONDAY, "09:00"))],
        rules=[{"max_extra": 2}],
    )
    result = find_slots(snap, query())
    extra = [s for s in result.slots if s.overbook]
    assert sorted(s.start.astimezone(BERLIN).strftime("%H:%M") for s in extra) == ["08:45", "09:00", "09:15"]
    assert {s.seat for s in extra} == {1}
    assert all(not s.overbook for s in result.slots[: len(result.slots) - len(extra)])  # regular first
    assert find_slots(snap, query(include_overbooking=False)).total == len(result.slots) - 3


def test_higher_overbooking_seats_when_lower_ones_are_taken():
    b = [booking("dr-a", "r1", at(MONDAY, "09:00")), booking("dr-a", "r2", at(MONDAY, "09:00"), seat=1)]
    snap = snapshot(
        rooms=[RoomSpec("r1"), RoomSpec("r2"), RoomSpec("r3")], bookings=b, rules=[{"max_extra": 2}]
    )
    at_nine = [s for s in find_slots(snap, query()).slots if s.start == at(MONDAY, "09:00")]
    assert [(s.seat, s.factors.overbooking) for s in at_nine] == [(2, pytest.approx(1 / 3, abs=1e-4))]
    full = snapshot(
        rooms=snap.rooms,
        bookings=[*b, booking("dr-a", "r3", at(MONDAY, "09:00"), seat=2)],
        rules=[{"max_extra": 2}],
    )
    assert not [s for s in find_slots(full, query()).slots if s.start == at(MONDAY, "09:00")]


def test_preference_factor():
    prefs = PatientPreferences(
        providers=frozenset({"dr-a"}), days=frozenset({0}), times=((dt.time(8), dt.time(10)),)
    )
    snap = snapshot(providers=[provider("dr-a"), provider("dr-b")])
    slots = {
        (s.provider, s.start.astimezone(BERLIN).strftime("%H:%M")): s
        for s in find_slots(snap, query(preferences=prefs)).slots
    }
    assert slots["dr-a", "08:30"].factors.preference == 1.0
    assert "fits the patient's preferred time 08:00-10:00" in slots["dr-a", "08:30"].explanation
    assert slots["dr-b", "08:30"].factors.preference == pytest.approx(2 / 3, abs=1e-4)
    assert slots["dr-a", "09:45"].factors.preference == pytest.approx((1 + 1 + 0.5) / 3, abs=1e-4)
    assert slots["dr-b", "11:00"].factors.preference == pytest.approx(1 / 3, abs=1e-4)
    assert find_slots(snap, query()).slots[0].factors.preference == 0.5  # neutral without preferences


def test_compactness_rewards_abutting_and_penalises_dead_gaps():
    snap = snapshot(
        bookings=[booking("dr-a", "r1", at(MONDAY, "09:00")), booking("dr-a", "r1", at(MONDAY, "10:00"))]
    )
    by_start = {s.start.astimezone(BERLIN).strftime("%H:%M"): s for s in find_slots(snap, query()).slots}
    assert by_start["09:30"].factors.compactness == 1.0  # closes the 09:30-10:00 gap exactly
    assert "closes a gap exactly" in by_start["09:30"].explanation
    assert by_start["08:00"].factors.compactness == 0.75  # window start, usable gap after
    assert by_start["08:30"].factors.compactness == 0.75  # abuts the 09:00 booking
    assert by_start["08:15"].factors.compactness == 0.5  # 15-minute gaps both sides, still usable
    # When nothing shorter than 30 minutes exists, those 15-minute gaps are dead time.
    strict = replace(snap, shortest_type_minutes=30)
    dead = {s.start.astimezone(BERLIN).strftime("%H:%M"): s for s in find_slots(strict, query()).slots}
    assert dead["08:15"].factors.compactness == 0.0
    assert "leaves a 15-minute gap too short for any appointment" in dead["08:15"].explanation
    assert by_start["11:30"].factors.compactness == 0.75


def test_room_switch_prefers_the_room_the_provider_is_in():
    snap = snapshot(
        rooms=[RoomSpec("r1"), RoomSpec("r2")], bookings=[booking("dr-a", "r2", at(MONDAY, "09:00"))]
    )
    by_start = {s.start.astimezone(BERLIN).strftime("%H:%M"): s for s in find_slots(snap, query()).slots}
    assert by_start["09:30"].room == "r2"
    assert by_start["09:30"].factors.room_switch == 1.0
    busy_r2 = snapshot(
        rooms=snap.rooms, bookings=[*snap.bookings, booking("dr-b", "r2", at(MONDAY, "09:30"))]
    )
    moved = {s.start.astimezone(BERLIN).strftime("%H:%M"): s for s in find_slots(busy_r2, query()).slots}
    assert moved["09:30"].room == "r1"
    assert moved["09:30"].factors.room_switch == 0.0


def test_ordering_is_score_then_start_then_provider_and_deterministic():
    snap = snapshot(
        providers=[provider("dr-b"), provider("dr-a")],
        bookings=[booking("dr-b", "r9", at(MONDAY, "10:00"))],
        rooms=[RoomSpec("r1"), RoomSpec("r2")],
    )
    result = find_slots(snap, query())
    keys = [(-s.score, s.start, s.provider) for s in result.slots]
    assert keys == sorted(keys)
    assert find_slots(snap, query()) == result
    limited = find_slots(snap, query(), limit=5)
    assert limited.total == result.total and limited.slots == result.slots[:5]


def test_score_is_the_weighted_sum_of_factors():
    for slot in find_slots(snapshot(), query()).slots:
        f = slot.factors
        assert slot.score == pytest.approx(
            0.40 * f.preference + 0.35 * f.compactness + 0.15 * f.room_switch + 0.10 * f.overbooking, abs=1e-4
        )
        assert all(0 <= v <= 1 for v in (f.preference, f.compactness, f.room_switch, f.overbooking))


CHECKS = [
    ({"start": at(MONDAY, "09:00")}, None, None),
    ({"start": at(MONDAY, "09:05")}, "off_grid", None),
    ({"start": at(dt.date(2027, 3, 10), "07:00")}, "outside_working_hours", None),
    ({"start": at(MONDAY, "11:45")}, "outside_working_hours", None),
    ({"start": at(MONDAY, "12:30")}, "in_break", None),
    ({"start": at(MONDAY, "09:00"), "room": "r9"}, "room_lacks_equipment", None),
    ({"start": at(MONDAY, "09:00"), "provider": "dr-z"}, "provider_not_allowed", None),
    ({"start": at(MONDAY, "10:00")}, "time_off", None),
    ({"start": at(dt.date(2027, 3, 9), "09:00")}, "closure", None),
    ({"start": at(MONDAY, "08:00")}, "in_past", None),
    ({"start": at(MONDAY, "08:45")}, "min_notice", None),
    ({"start": at(dt.date(2027, 3, 15), "09:00")}, "beyond_horizon", None),
    ({"start": at(MONDAY, "11:00")}, None, "provider"),
    ({"start": at(MONDAY, "09:30")}, None, "room"),
    ({"start": at(MONDAY, "14:00")}, None, "patient"),
    ({"start": at(MONDAY, "09:00"), "overbook": True}, "overbooking_not_needed", None),
    ({"start": at(MONDAY, "11:00"), "overbook": True}, None, None),
]


@pytest.mark.parametrize(("kwargs", "reason", "conflict"), CHECKS)
def test_check_slot_reasons(kwargs, reason, conflict):
    dr_a = provider(
        "dr-a", ("08:00", "12:00"), ("13:00", "17:00"), time_off=[(at(MONDAY, "10:00"), at(MONDAY, "10:30"))]
    )
    snap = snapshot(
        providers=[dr_a, provider("dr-b", ("08:00", "17:00"))],
        rooms=[RoomSpec("r1"), RoomSpec("r2")],
        bookings=[
            booking("dr-a", "r2", at(MONDAY, "11:00")),
            booking("dr-b", "r1", at(MONDAY, "09:30")),
            booking("dr-b", "r2", at(MONDAY, "14:00"), patient="p-1"),
        ],
        rules=[{"max_extra": 1}],
        now=at(MONDAY, "08:20"),
        min_notice_minutes=30,
        booking_horizon_days=5,
        closures=frozenset({dt.date(2027, 3, 9)}),
    )
    ecgless = AppointmentTypeSpec("consult", 30, providers=frozenset({"dr-a", "dr-b"}))
    args = {"provider": "dr-a", "room": "r1", **kwargs}
    if args["room"] == "r9":
        ecgless = AppointmentTypeSpec("consult", 30, required_equipment=frozenset({"ecg"}))
        args["room"] = "r1"
    verdict = check_slot(snap, query(ecgless, patient="p-1"), **args)
    assert (verdict.reason, verdict.conflict) == (reason, conflict)
    assert verdict.ok == (reason is None and conflict is None)
    assert verdict.message or verdict.ok


def test_engine_imports_no_django():
    engine_dir = pathlib.Path(__file__).resolve().parents[1]
    for path in engine_dir.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            for name in names:
                assert not name.startswith(("django", "clinic", "scheduling.models")), (
                    f"{path} imports {name}"
                )


def test_overbooking_disabled_by_query():
    snap = snapshot(bookings=[booking("dr-a", "r1", at(MONDAY, "09:00"))], rules=[{"max_extra": 1}])
    assert not [s for s in find_slots(snap, query(include_overbooking=False)).slots if s.overbook]


def test_consult_type_default():
    assert CONSULT.blocked_minutes == 30
