"""``backfill_of``: a booking may claim to refill a cancellation only if it does, the
claim is kept in the history, and the stats count refills from it (issue 14, item 4)."""

from __future__ import annotations

import pytest

from clinic.errors import ValidationFailed
from clinic.models import Membership
from clinic.tests.factories import ClinicFactory
from scheduling import jobs, services
from scheduling.models import Appointment, AppointmentHistory
from scheduling.tests.factories import AppointmentFactory

from .test_api_appointments import booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def freed(small_clinic, call) -> dict:
    """p-1's 09:00 consult with dr-a in r1, cancelled."""
    first = call("post", "/api/v1/appointments", booking(small_clinic)).json()
    assert call("post", f"/api/v1/appointments/{first['id']}/cancel", {}).status_code == 200
    return first


def _refused(response) -> str:
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    return error["details"]["fields"]["backfill_of"]


def test_refilling_the_freed_time_is_accepted_recorded_and_counted(small_clinic, call, freed):
    response = call(
        "post", "/api/v1/appointments", booking(small_clinic, patient="p-2", backfill_of=freed["id"])
    )

    assert response.status_code == 201, response.content
    refill = Appointment.objects.get(pk=response.json()["id"])
    assert refill.backfill_of_id == freed["id"]
    history = AppointmentHistory.objects.get(appointment=refill, action="booked")
    assert history.changes["backfill_of"] == freed["id"]
    stats = jobs.stats_for_day(small_clinic["clinic"], small_clinic["day"])
    assert stats["totals"]["backfilled"] == 1


def test_an_active_appointment_is_not_a_cancellation_to_refill(small_clinic, call):
    active = call("post", "/api/v1/appointments", booking(small_clinic)).json()

    response = call(
        "post",
        "/api/v1/appointments",
        booking(small_clinic, patient="p-2", provider="dr-b", room="r2", backfill_of=active["id"]),
    )

    assert "not cancelled" in _refused(response)
    assert Appointment.objects.count() == 1
    assert jobs.stats_for_day(small_clinic["clinic"], small_clinic["day"])["totals"]["backfilled"] == 0


@pytest.mark.parametrize(
    "elsewhere",
    [
        pytest.param({"clock": "10:00"}, id="another-time"),
        pytest.param({"clock": "09:30"}, id="just-after"),
        pytest.param({"provider": "dr-b", "room": "r2"}, id="another-provider"),
    ],
)
def test_a_booking_that_does_not_take_the_freed_time_is_refused(small_clinic, call, freed, elsewhere):
    response = call(
        "post",
        "/api/v1/appointments",
        booking(small_clinic, patient="p-2", backfill_of=freed["id"], **elsewhere),
    )

    assert "does not take the time" in _refused(response)
    assert not Appointment.objects.filter(patient__code="p-2").exists()


def test_an_appointment_of_another_clinic_is_refused(small_clinic, call, desk):
    other = AppointmentFactory(clinic=ClinicFactory(code="other"), status="cancelled")
    # With two clinics, the desk works for riverside through a membership.
    Membership.objects.create(user=desk, clinic=small_clinic["clinic"])

    response = call(
        "post", "/api/v1/appointments?clinic=riverside", booking(small_clinic, backfill_of=other.pk)
    )

    assert "No appointment" in _refused(response)


def test_the_service_checks_the_link_whoever_calls_it(small_clinic, call):
    active = call("post", "/api/v1/appointments", booking(small_clinic)).json()
    clinic = small_clinic["clinic"]

    with pytest.raises(ValidationFailed) as refused:
        services.appointment_book(
            clinic=clinic,
            patient=small_clinic["patients"][1],
            appointment_type=small_clinic["consult"],
            provider=small_clinic["providers"][1],
            room=small_clinic["rooms"][1],
            start=Appointment.objects.get(pk=active["id"]).start,
            backfill_of=Appointment.objects.get(pk=active["id"]),
        )
    assert "backfill_of" in refused.value.details["fields"]
