"""The database's guarantees, each proven against real PostgreSQL.

These insert rows directly (no service, no engine): whatever the application does,
the database itself must refuse a double booking.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError

from clinic.tests.factories import (
    AppointmentTypeFactory,
    PatientFactory,
    ProviderFactory,
    RoomFactory,
    WorkingHoursFactory,
)
from scheduling.models import CONFLICT_BY_CONSTRAINT, AppointmentStatus
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db
T9 = dt.datetime(2027, 3, 8, 9, 0, tzinfo=dt.UTC)


def minutes(n: int) -> dt.timedelta:
    return dt.timedelta(minutes=n)


@pytest.fixture
def setup(clinic):
    return {
        "provider": ProviderFactory(clinic=clinic),
        "room": RoomFactory(clinic=clinic),
        "patient": PatientFactory(clinic=clinic),
        "type30": AppointmentTypeFactory(clinic=clinic, duration_minutes=30),
        "type60": AppointmentTypeFactory(clinic=clinic, duration_minutes=60),
        "type15": AppointmentTypeFactory(clinic=clinic, duration_minutes=15),
    }


def book(clinic, **kwargs):
    return AppointmentFactory(clinic=clinic, **kwargs)


def violated(clinic, **kwargs) -> str:
    """Insert and return the name of the constraint that refused it."""
    with pytest.raises(IntegrityError) as exc_info, transaction.atomic():
        book(clinic, **kwargs)
    return exc_info.value.__cause__.diag.constraint_name


# The second booking overlaps the first (09:00-09:30 on a 30-minute type) by different lengths.
OVERLAPS = [
    pytest.param("type30", T9, id="identical"),
    pytest.param("type15", T9 + minutes(15), id="inside"),
    pytest.param("type60", T9 - minutes(15), id="covers"),
    pytest.param("type30", T9 + minutes(29), id="one-minute-at-end"),
    pytest.param("type30", T9 - minutes(29), id="one-minute-at-start"),
]


@pytest.mark.parametrize(("type_key", "start"), OVERLAPS)
def test_provider_overlap_is_refused(clinic, setup, type_key, start):
    book(clinic, provider=setup["provider"], appointment_type=setup["type30"], start=T9)
    name = violated(clinic, provider=setup["provider"], appointment_type=setup[type_key], start=start)
    assert CONFLICT_BY_CONSTRAINT[name] == "provider"


@pytest.mark.parametrize(("type_key", "start"), OVERLAPS)
def test_room_overlap_is_refused(clinic, setup, type_key, start):
    book(clinic, room=setup["room"], appointment_type=setup["type30"], start=T9)
    name = violated(clinic, room=setup["room"], appointment_type=setup[type_key], start=start)
    assert CONFLICT_BY_CONSTRAINT[name] == "room"


@pytest.mark.parametrize(("type_key", "start"), OVERLAPS)
def test_patient_overlap_is_refused(clinic, setup, type_key, start):
    book(clinic, patient=setup["patient"], appointment_type=setup["type30"], start=T9)
    name = violated(clinic, patient=setup["patient"], appointment_type=setup[type_key], start=start)
    assert CONFLICT_BY_CONSTRAINT[name] == "patient"


@pytest.mark.parametrize("resource", ["provider", "room", "patient"])
@pytest.mark.parametrize("start", [T9 + minutes(30), T9 - minutes(30)], ids=["after", "before"])
def test_back_to_back_is_accepted(clinic, setup, resource, start):
    book(clinic, appointment_type=setup["type30"], start=T9, **{resource: setup[resource]})
    book(clinic, appointment_type=setup["type30"], start=start, **{resource: setup[resource]})


@pytest.mark.parametrize("status", ["cancelled", "no_show", "completed"])
@pytest.mark.parametrize("resource", ["provider", "room", "patient"])
def test_inactive_appointments_do_not_block(clinic, setup, resource, status):
    book(clinic, start=T9, status=status, **{resource: setup[resource]})
    book(clinic, start=T9, **{resource: setup[resource]})


@pytest.mark.parametrize("status", ["booked", "confirmed", "checked_in"])
def test_every_active_status_blocks(clinic, setup, status):
    book(clinic, provider=setup["provider"], start=T9, status=status)
    assert violated(clinic, provider=setup["provider"], start=T9) == "appointment_no_provider_overlap"


@pytest.mark.parametrize("resource", ["provider", "room"])
def test_buffer_after_blocks_the_next_start(clinic, setup, resource):
    cleaned = AppointmentTypeFactory(clinic=clinic, duration_minutes=30, buffer_after_minutes=10)
    book(clinic, appointment_type=cleaned, start=T9, **{resource: setup[resource]})
    # 09:30 is free for the appointment itself but inside the 10-minute cleaning buffer.
    name = violated(clinic, start=T9 + minutes(30), **{resource: setup[resource]})
    assert CONFLICT_BY_CONSTRAINT[name] == resource
    book(clinic, start=T9 + minutes(40), **{resource: setup[resource]})


@pytest.mark.parametrize("resource", ["provider", "room"])
def test_buffer_before_blocks_the_previous_end(clinic, setup, resource):
    prepared = AppointmentTypeFactory(clinic=clinic, duration_minutes=30, buffer_before_minutes=15)
    book(clinic, appointment_type=prepared, start=T9, **{resource: setup[resource]})
    name = violated(clinic, start=T9 - minutes(30), **{resource: setup[resource]})
    assert CONFLICT_BY_CONSTRAINT[name] == resource
    book(clinic, start=T9 - minutes(45), **{resource: setup[resource]})


def test_buffers_do_not_block_the_patient(clinic, setup):
    cleaned = AppointmentTypeFactory(clinic=clinic, duration_minutes=30, buffer_after_minutes=10)
    book(clinic, patient=setup["patient"], appointment_type=cleaned, start=T9)
    book(clinic, patient=setup["patient"], start=T9 + minutes(30))


def test_overbooking_seat_coexists_with_the_regular_seat(clinic, setup):
    same = {"provider": setup["provider"], "room": setup["room"], "start": T9}
    book(clinic, seat=0, **same)
    book(clinic, seat=1, **same)
    assert violated(clinic, seat=1, **same) == "appointment_no_provider_overlap"
    book(clinic, seat=2, **same)


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"end": T9}, "appointment_end_after_start"),
        ({"end": T9 - minutes(5)}, "appointment_end_after_start"),
        ({"blocked_start": T9 + minutes(5)}, "appointment_blocked_range_covers_appointment"),
        ({"blocked_end": T9 + minutes(5)}, "appointment_blocked_range_covers_appointment"),
        ({"status": "lost"}, "appointment_status_valid"),
    ],
)
def test_check_constraints_refuse_impossible_rows(clinic, fields, constraint):
    assert violated(clinic, start=T9, **fields) == constraint


@pytest.mark.parametrize(
    ("factory_cls", "fields", "constraint"),
    [
        (AppointmentTypeFactory, {"duration_minutes": 0}, "appointment_type_duration_positive"),
        (
            WorkingHoursFactory,
            {"start": dt.time(9), "end": dt.time(9)},
            "working_hours_end_after_start",
        ),
        (
            WorkingHoursFactory,
            {"start": dt.time(12), "end": dt.time(8)},
            "working_hours_end_after_start",
        ),
        (WorkingHoursFactory, {"weekday": 7}, "working_hours_weekday_valid"),
    ],
)
def test_resource_check_constraints(clinic, factory_cls, fields, constraint):
    extra = (
        {"provider": ProviderFactory(clinic=clinic)}
        if factory_cls is WorkingHoursFactory
        else {"clinic": clinic}
    )
    with pytest.raises(IntegrityError) as exc_info, transaction.atomic():
        factory_cls(**extra, **fields)
    assert exc_info.value.__cause__.diag.constraint_name == constraint


def test_negative_buffer_is_refused(clinic):
    # PositiveIntegerField adds its own check; either way the database refuses it.
    with pytest.raises(IntegrityError), transaction.atomic():
        AppointmentTypeFactory(clinic=clinic, buffer_after_minutes=-5)


@pytest.mark.parametrize("resource", ["provider", "room", "patient", "appointment_type"])
def test_deleting_a_resource_with_history_is_refused(clinic, resource):
    appointment = book(clinic, start=T9, status=AppointmentStatus.COMPLETED)
    with pytest.raises(ProtectedError):
        getattr(appointment, resource).delete()
