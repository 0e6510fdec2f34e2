"""The scheduling tests' clinic and users, and helpers to book and read calendars."""

from __future__ import annotations

import datetime as dt

import pytest
from icalendar import Calendar

from clinic.models import Membership
from clinic.tests.factories import PatientFactory
from scheduling import services
from scheduling.models import Appointment
from scheduling.tests import conftest as scheduling_fixtures
from scheduling.tests.conftest import make_user

# The scheduling tests' clinic and front-desk user, shared.
small_clinic = scheduling_fixtures.small_clinic
desk = scheduling_fixtures.desk

# A patient whose every detail is easy to find in a body: none of it may be.
SECRET_PATIENT = {
    "code": "p-secret-code",
    "first_name": "Ottilie",
    "last_name": "Brennecke",
    "phone": "+49 30 5557 1234",
    "email": "ottilie.brennecke@example.org",
}
NOTE = "Allergic to latex, call her daughter"


@pytest.fixture
def patient(small_clinic):
    return PatientFactory(clinic=small_clinic["clinic"], **SECRET_PATIENT)


@pytest.fixture
def clinician(django_user_model, small_clinic):
    """dr-a's own user: a clinician linked to the provider dr-a."""
    user = make_user(django_user_model, "doc-a", "clinician")
    Membership.objects.create(user=user, clinic=small_clinic["clinic"], provider=small_clinic["providers"][0])
    return user


def at(small_clinic, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=small_clinic["clinic"].tz)


def book(
    small_clinic, patient, *, hour: int = 9, provider: int = 0, room: int = 0, day=None, **extra
) -> Appointment:
    return services.appointment_book(
        clinic=small_clinic["clinic"],
        patient=patient,
        appointment_type=small_clinic["consult"],
        provider=small_clinic["providers"][provider],
        room=small_clinic["rooms"][room],
        start=at(small_clinic, day or small_clinic["day"], hour),
        **extra,
    )


def parsed(body: bytes) -> Calendar:
    """The body as a calendar app reads it, after checking what RFC 5545 asks of its bytes."""
    assert body.startswith(b"BEGIN:VCALENDAR\r\n") and body.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in body.replace(b"\r\n", b""), "every line ends in CRLF"
    assert all(len(line) <= 75 for line in body.split(b"\r\n")), "long lines are folded"
    calendar = Calendar.from_ical(body)
    assert str(calendar["VERSION"]) == "2.0" and str(calendar["PRODID"]).startswith("-//")
    for event in calendar.walk("VEVENT"):
        assert event.get("DTSTAMP") is not None and event.get("UID")
    return calendar


def events(calendar: Calendar) -> list:
    return list(calendar.walk("VEVENT"))
