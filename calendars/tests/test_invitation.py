"""One appointment as an invitation (GET /api/v1/appointments/{id}.ics): scoped as the API's
appointment read, the same event across reschedules, cancelled by METHOD:CANCEL."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.models import AuditAction, AuditRecord
from calendars.tests.conftest import NOTE, SECRET_PATIENT, at, book, events, parsed
from clinic.models import ApiToken
from scheduling import services
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(desk):
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(desk)[1]}"}


def invitation(client, auth, appointment_id: int):
    response = client.get(f"/api/v1/appointments/{appointment_id}.ics", **auth)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = parsed(response.content)
    [event] = events(calendar)
    return calendar, event


def test_an_invitation_has_the_clinic_the_time_in_its_zone_and_nothing_private(
    client, auth, small_clinic, patient
):
    appointment = book(small_clinic, patient, hour=9, note=NOTE)

    calendar, event = invitation(client, auth, appointment.pk)

    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(event["UID"]) == f"visit-{appointment.pk}@riverside.clinic-scheduling-engine"
    assert event["SEQUENCE"] == 0 and str(event["STATUS"]) == "CONFIRMED"
    assert str(event["SUMMARY"]) == "Consultation at Riverside Family Practice"
    assert str(event["LOCATION"]) == "Riverside Family Practice"
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event.decoded("DTSTART") == appointment.start and event.decoded("DTEND") == appointment.end
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert "ORGANIZER" not in event  # the clinic has no email yet
    body = calendar.to_ical().decode()
    for value in (*SECRET_PATIENT.values(), NOTE):
        assert value not in body


def test_an_invitation_names_the_clinics_address_and_email_once_the_admin_gives_them(
    client, auth, small_clinic, patient
):
    clinic = small_clinic["clinic"]
    clinic.address = "Flussstrasse 4\n10115 Berlin"
    clinic.email = "desk@riverside.example"
    clinic.save()
    appointment = book(small_clinic, patient, hour=9)

    _, event = invitation(client, auth, appointment.pk)

    assert str(event["LOCATION"]) == "Riverside Family Practice, Flussstrasse 4, 10115 Berlin"
    assert str(event["ORGANIZER"]) == "mailto:desk@riverside.example"
    assert event["ORGANIZER"].params["CN"] == "Riverside Family Practice"


def test_reading_an_invitation_is_recorded_as_a_view_of_the_patients_data(
    client, auth, small_clinic, patient
):
    appointment = book(small_clinic, patient, hour=9)

    invitation(client, auth, appointment.pk)

    assert list(AuditRecord.objects.values_list("action", "door", "patient", "user__username")) == [
        (AuditAction.VIEW, "api", patient.pk, "frontdesk1")
    ]


def test_a_reschedule_updates_the_same_event_and_a_cancel_cancels_it(client, auth, small_clinic, patient):
    first = book(small_clinic, patient, hour=9)
    _, booked = invitation(client, auth, first.pk)

    moved, _, _ = services.appointment_reschedule(
        appointment_id=first.pk, start=at(small_clinic, small_clinic["day"], 11)
    )
    _, rescheduled = invitation(client, auth, moved.pk)
    _, old_link = invitation(client, auth, first.pk)  # the first invitation's link, fetched again

    services.appointment_cancel(appointment_id=moved.pk, reason="feels better")
    calendar, cancelled = invitation(client, auth, moved.pk)

    assert booked["UID"] == rescheduled["UID"] == old_link["UID"] == cancelled["UID"]
    assert rescheduled.decoded("DTSTART") == old_link.decoded("DTSTART") == moved.start
    assert (booked["SEQUENCE"], rescheduled["SEQUENCE"], cancelled["SEQUENCE"]) == (0, 1, 2)
    assert str(calendar["METHOD"]) == "CANCEL" and str(cancelled["STATUS"]) == "CANCELLED"


def test_a_cancelled_appointment_is_a_cancel(client, auth, small_clinic, patient):
    appointment = book(small_clinic, patient, hour=9)
    services.appointment_cancel(appointment_id=appointment.pk, reason="ill")

    calendar, event = invitation(client, auth, appointment.pk)

    assert str(calendar["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert event["SEQUENCE"] == 1


def test_a_summer_visit_carries_the_zones_summer_time(client, auth, small_clinic, patient):
    # Loaded as it is: a July morning, 09:00 in Berlin is 07:00 UTC.
    summer = AppointmentFactory(
        clinic=small_clinic["clinic"],
        patient=patient,
        appointment_type=small_clinic["consult"],
        provider=small_clinic["providers"][0],
        room=small_clinic["rooms"][0],
        start=dt.datetime(2027, 7, 5, 7, 0, tzinfo=dt.UTC),
    )

    calendar, event = invitation(client, auth, summer.pk)

    assert event["DTSTART"].to_ical() == b"20270705T090000"
    [zone] = calendar.walk("VTIMEZONE")
    assert [(d["TZNAME"], d["TZOFFSETTO"].to_ical()) for d in zone.walk("DAYLIGHT")] == [("CEST", "+0200")]
