"""The appointment lifecycle's edges: what a checked-in appointment may no longer do, and
rescheduling onto an overbooking seat (issue 14, item 5)."""

from __future__ import annotations

import pytest

from clinic.errors import InvalidTransition, SlotUnavailable
from clinic.models import OverbookingRule
from scheduling import services
from scheduling.models import Appointment, AppointmentStatus

from .test_api_appointments import booking, local

pytestmark = pytest.mark.django_db


def _checked_in(small_clinic, call) -> int:
    appointment_id = call("post", "/api/v1/appointments", booking(small_clinic)).json()["id"]
    assert call("post", f"/api/v1/appointments/{appointment_id}/check-in").status_code == 200
    return appointment_id


def test_a_checked_in_appointment_cannot_be_cancelled(small_clinic, call):
    appointment_id = _checked_in(small_clinic, call)

    response = call("post", f"/api/v1/appointments/{appointment_id}/cancel", {"reason": "left"})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert Appointment.objects.get(pk=appointment_id).status == AppointmentStatus.CHECKED_IN
    with pytest.raises(InvalidTransition):
        services.appointment_cancel(appointment_id=appointment_id)


def test_a_checked_in_appointment_cannot_be_rescheduled(small_clinic, call):
    appointment_id = _checked_in(small_clinic, call)

    response = call(
        "post",
        f"/api/v1/appointments/{appointment_id}/reschedule",
        {"start": local(small_clinic, "10:00")},
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert Appointment.objects.get().status == AppointmentStatus.CHECKED_IN


@pytest.mark.parametrize("status", ["booked", "confirmed"])
def test_booked_and_confirmed_appointments_can_still_be_cancelled(small_clinic, call, status):
    appointment_id = call("post", "/api/v1/appointments", booking(small_clinic)).json()["id"]
    if status == "confirmed":
        call("post", f"/api/v1/appointments/{appointment_id}/confirm")

    response = call("post", f"/api/v1/appointments/{appointment_id}/cancel", {"reason": "ill"})

    assert response.status_code == 200
    assert response.json()["appointment"]["status"] == "cancelled"


def test_reschedule_onto_an_overbooking_seat_when_asked(small_clinic, call):
    OverbookingRule.objects.create(clinic=small_clinic["clinic"], max_extra=1)
    call("post", "/api/v1/appointments", booking(small_clinic, clock="10:00"))
    moving = call("post", "/api/v1/appointments", booking(small_clinic, patient="p-2", room="r2")).json()
    path = f"/api/v1/appointments/{moving['id']}/reschedule"
    target = {"start": local(small_clinic, "10:00")}

    refused = call("post", path, target)
    assert refused.status_code == 409 and refused.json()["error"]["details"]["conflict"] == "provider"

    moved = call("post", path, {**target, "overbook": True})
    assert moved.status_code == 200, moved.content
    assert moved.json()["appointment"]["overbook"] is True
    assert moved.json()["appointment"]["start"] == local(small_clinic, "10:00")
    assert Appointment.objects.get(pk=moved.json()["appointment"]["id"]).seat == 1


def test_reschedule_service_takes_overbook_like_a_booking(small_clinic, call):
    call("post", "/api/v1/appointments", booking(small_clinic, clock="10:00"))
    moving = call("post", "/api/v1/appointments", booking(small_clinic, patient="p-2", room="r2")).json()
    start = Appointment.objects.get(patient__code="p-1").start

    # No overbooking rule: no extra seat to take, and nothing changes.
    with pytest.raises(SlotUnavailable) as refused:
        services.appointment_reschedule(appointment_id=moving["id"], start=start, overbook=True)
    assert refused.value.details["reason"] == "no_overbooking_seat"
    assert Appointment.objects.get(pk=moving["id"]).status == AppointmentStatus.BOOKED
