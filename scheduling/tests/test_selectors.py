from __future__ import annotations

import datetime as dt

import pytest

from clinic.errors import NotFound
from clinic.models import AppointmentType, Patient, Room
from clinic.tests.factories import AppointmentTypeFactory, PatientFactory, RoomFactory
from scheduling.selectors import by_codes

pytestmark = pytest.mark.django_db


def test_by_codes_reads_whole_objects_in_one_query(clinic, django_assert_num_queries):
    PatientFactory(
        clinic=clinic,
        code="p-1",
        birth_date=dt.date(1984, 5, 2),
        preferred_days=["mon"],
        preferred_times=[["08:00", "11:00"]],
    )
    AppointmentTypeFactory(clinic=clinic, code="ecg", duration_minutes=30, buffer_after_minutes=10)
    RoomFactory(clinic=clinic, code="r1", name="Room 1")
    with django_assert_num_queries(1):
        found = by_codes(clinic, patient=(Patient, "p-1"), kind=(AppointmentType, "ecg"), room=(Room, "r1"))
    patient = found["patient"]
    assert patient == Patient.objects.get(code="p-1")
    assert patient.birth_date == dt.date(1984, 5, 2)
    assert patient.preferred_days == ["mon"] and patient.preferred_times == [["08:00", "11:00"]]
    assert patient.created_at == Patient.objects.get(code="p-1").created_at
    assert found["kind"].buffer_after_minutes == 10 and found["room"].name == "Room 1"
    assert found["room"].clinic_id == clinic.pk


def test_by_codes_names_the_missing_field(clinic):
    RoomFactory(clinic=clinic, code="r1")
    with pytest.raises(NotFound) as exc_info:
        by_codes(clinic, room=(Room, "r1"), patient=(Patient, "nobody"))
    assert exc_info.value.details == {"field": "patient"}
