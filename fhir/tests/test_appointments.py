"""Booking a Slot, reading and searching appointments, and the lifecycle through PUT and
PATCH: the same services, guarantees and refusals as the JSON API."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic.models import Membership
from fhir.tests.conftest import booking, entries, issue_code, local, slot_search
from fhir.tests.validation import valid
from notifications.models import EventType, OutboxEvent
from scheduling import services
from scheduling.models import Appointment, AppointmentStatus
from scheduling.tests.factories import WaitlistEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)


def first_slot(fhir, small_clinic, schedule: str = "Schedule/dr-a", **params) -> dict:
    return entries(slot_search(fhir, small_clinic["day"], schedule=schedule, **params))[0]


def book(fhir, slot_id: str, patient: str = "p-1", **more):
    return fhir.post("Appointment", booking(slot_id, patient, **more))


def test_booking_a_slot_creates_the_appointment_the_slot_describes(fhir, small_clinic):
    slot = first_slot(fhir, small_clinic)
    response = book(fhir, slot["id"], comment="First visit")
    assert response.status_code == 201, response.text
    created = valid(response.json())
    stored = Appointment.objects.get(pk=int(created["id"]))
    assert stored.provider.code == "dr-a"
    assert stored.room.code == slot["extension"][0]["valueReference"]["reference"].split("/")[1]
    assert stored.start == dt.datetime.fromisoformat(slot["start"])
    assert stored.patient.code == "p-1" and stored.note == "First visit"
    assert created["status"] == "booked"
    assert created["slot"] == [{"reference": f"Slot/{slot['id']}"}]
    assert created["start"] == slot["start"] and created["end"] == slot["end"]
    patient = next(p for p in created["participant"] if p["actor"]["reference"] == "Patient/p-1")
    assert patient["status"] == "needs-action"  # booked, not yet confirmed
    assert response.headers["Location"].endswith(f"/fhir/Appointment/{created['id']}")
    assert valid(fhir.get(response.headers["Location"]).json()) == created
    # The booking service's own work: its event in the outbox.
    assert OutboxEvent.objects.filter(appointment_id=stored.pk, event_type=EventType.BOOKED).exists()
    # The slot is busy now, and no longer offered.
    assert fhir.get(f"Slot/{slot['id']}").json()["status"] == "busy"
    assert slot["id"] not in {s["id"] for s in entries(slot_search(fhir, small_clinic["day"], _count=1000))}


def test_a_taken_slot_is_409_and_an_unknown_one_404(fhir, small_clinic):
    slot = first_slot(fhir, small_clinic)
    assert book(fhir, slot["id"], "p-1").status_code == 201
    again = book(fhir, slot["id"], "p-2")
    assert again.status_code == 409
    assert issue_code(again) == "slot_taken"
    assert valid(again.json())["issue"][0]["code"] == "conflict"
    for unknown in ("999999-999999-999999-29000000-0", "abc"):
        response = book(fhir, unknown)
        assert response.status_code == 404, unknown
        assert issue_code(response) == "not_found"
    assert book(fhir, first_slot(fhir, small_clinic)["id"], "p-nobody").status_code == 404


def test_invalid_bookings_are_400_or_422_operation_outcomes(fhir, small_clinic):
    slot_id = first_slot(fhir, small_clinic)["id"]
    good = booking(slot_id)
    cases = [
        ({**good, "status": "proposed"}, 422, "Appointment.status"),
        ({**good, "participant": []}, 422, "Appointment.participant"),
        ({**good, "slot": []}, 422, "Appointment.slot"),
        ({**good, "slot": [{"reference": "Schedule/dr-a"}]}, 422, "Appointment.slot"),
        ({**good, "slot": "Slot/1"}, 422, "Appointment.slot"),
        ({**good, "comment": "x" * 2001}, 422, "Appointment.comment"),
        ({**good, "start": "2001-01-01T00:00:00Z"}, 422, "Appointment.start"),
        ({**good, "start": "yesterday"}, 422, "Appointment.start"),
        (
            {**good, "participant": [*good["participant"], {"actor": {"reference": "Practitioner/dr-b"}}]},
            422,
            "Appointment.participant",
        ),
        ({**good, "serviceType": [{"coding": [{"code": "ecg"}]}]}, 422, "Appointment.serviceType"),
        ({**good, "resourceType": "Patient"}, 400, None),
    ]
    for body, status, field in cases:
        response = fhir.post("Appointment", body)
        assert response.status_code == status, (body, response.text)
        outcome = valid(response.json())
        if field:
            assert field in [e for issue in outcome["issue"] for e in issue.get("expression", [])], outcome
    assert fhir.post("Appointment", "{not json").status_code == 400
    assert fhir.post("Appointment", "[]").status_code == 400
    wrong_type = fhir.post("Appointment", good, content_type="text/plain")
    assert wrong_type.status_code == 415
    # Plain JSON is fine, and what agrees with the slot may be repeated.
    fine = fhir.post(
        "Appointment", {**good, "serviceType": [{"coding": [{"code": "consult"}]}]}, "application/json"
    )
    assert fine.status_code == 201, fine.text
    assert not Appointment.objects.exclude(pk=int(fine.json()["id"])).exists()


def test_a_slot_the_engine_would_not_offer_is_422_slot_unavailable(fhir, small_clinic):
    c = small_clinic
    slot = first_slot(fhir, c)
    # The patient is busy at that time elsewhere: the booking service refuses.
    services.appointment_book(
        clinic=c["clinic"],
        patient=c["patients"][4],
        appointment_type=c["consult"],
        provider=c["providers"][1],
        room=c["rooms"][2],
        start=dt.datetime.fromisoformat(slot["start"]),
    )
    taken_by_patient = book(fhir, slot["id"], c["patients"][4].code)
    assert taken_by_patient.status_code == 409
    past = slot["id"].split("-")
    past[3] = str(int(past[3]) - 28 * 24 * 60)  # four weeks earlier: passed
    response = book(fhir, "-".join(past))
    assert response.status_code == 422
    assert issue_code(response) == "slot_unavailable"


def test_appointments_search_by_patient_actor_date_and_status(fhir, small_clinic):
    c = small_clinic
    made = []
    for patient, provider, clock, days in (
        ("p-1", 0, "09:00", 0),
        ("p-2", 1, "10:00", 0),
        ("p-1", 1, "09:00", 1),
    ):
        made.append(
            services.appointment_book(
                clinic=c["clinic"],
                patient=c["patients"][int(patient[2:]) - 1],
                appointment_type=c["consult"],
                provider=c["providers"][provider],
                room=c["rooms"][provider],
                start=local(c, clock, days),
            )
        )
    services.appointment_cancel(appointment_id=made[1].pk, reason="ill")

    def ids(params):
        bundle = valid(fhir.get("Appointment", params).json())
        assert bundle["total"] == len(bundle.get("entry", []))
        return [int(r["id"]) for r in entries(bundle)]

    one, two, three = (a.pk for a in made)
    assert ids({}) == [one, two, three]
    assert ids({"patient": "Patient/p-1"}) == [one, three]
    assert ids({"patient": "p-1"}) == [one, three]
    assert ids({"actor": "Practitioner/dr-b"}) == [two, three]
    assert ids({"actor": "Patient/p-2"}) == [two]
    assert ids({"actor": "Location/r1"}) == [one]
    assert ids({"practitioner": "dr-a"}) == [one]
    assert ids({"date": str(c["day"])}) == [one, two]
    assert ids({"date": f"gt{c['day']}"}) == [three]
    assert ids({"status": "cancelled"}) == [two]
    assert ids({"status": "booked,fulfilled"}) == [one, three]
    assert ids({"service-type": "ecg"}) == []
    assert ids({"_id": str(two)}) == [two]
    slot_of_one = fhir.get(f"Appointment/{one}").json()["slot"][0]["reference"]
    assert ids({"slot": slot_of_one}) == [one]
    cancelled = valid(fhir.get(f"Appointment/{two}").json())
    assert cancelled["status"] == "cancelled" and cancelled["cancelationReason"] == {"text": "ill"}


def test_cancel_with_json_patch_goes_through_the_cancel_service(fhir, small_clinic):
    c = small_clinic
    slot = first_slot(fhir, c)
    created = book(fhir, slot["id"], "p-1").json()
    # Somebody waits for this type: the freed time is offered to them (backfill).
    WaitlistEntryFactory(
        clinic=c["clinic"],
        patient=c["patients"][6],
        appointment_type=c["consult"],
        earliest=c["day"],
        latest=c["day"],
    )
    patch = [
        {"op": "test", "path": "/status", "value": "booked"},
        {"op": "replace", "path": "/status", "value": "cancelled"},
        {"op": "add", "path": "/cancelationReason", "value": {"text": "patient ill"}},
    ]
    response = fhir.patch(f"Appointment/{created['id']}", patch)
    assert response.status_code == 200, response.text
    cancelled = valid(response.json())
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelationReason"] == {"text": "patient ill"}
    stored = Appointment.objects.get(pk=int(created["id"]))
    assert stored.status == AppointmentStatus.CANCELLED and stored.cancel_reason == "patient ill"
    assert OutboxEvent.objects.filter(appointment_id=stored.pk, event_type=EventType.CANCELLED).exists()
    # The slot is free again.
    assert fhir.get(f"Slot/{slot['id']}").json()["status"] == "free"
    # A failed test, a path that is not there: 422; not a patch at all: 400.
    again = fhir.patch(f"Appointment/{created['id']}", [{"op": "test", "path": "/status", "value": "booked"}])
    assert again.status_code == 422
    assert (
        fhir.patch(f"Appointment/{created['id']}", [{"op": "remove", "path": "/nothing"}]).status_code == 422
    )
    assert fhir.patch(f"Appointment/{created['id']}", [{"op": "jump", "path": "/status"}]).status_code == 400


def test_cancel_with_put_and_the_lifecycle_through_status(fhir, small_clinic):
    created = book(fhir, first_slot(fhir, small_clinic)["id"]).json()
    path = f"Appointment/{created['id']}"
    # The patient confirms: their participation is accepted.
    confirmed = dict(created)
    confirmed["participant"] = [
        {**p, "status": "accepted"} if p["actor"]["reference"].startswith("Patient/") else p
        for p in created["participant"]
    ]
    response = fhir.put(path, confirmed)
    assert response.status_code == 200, response.text
    assert Appointment.objects.get(pk=int(created["id"])).status == AppointmentStatus.CONFIRMED
    assert valid(response.json())["status"] == "booked"
    # Check-in ("arrived" means the same), then fulfilled.
    arrived = fhir.patch(path, {"status": "arrived"}, "application/merge-patch+json")
    assert arrived.status_code == 200, arrived.text
    assert arrived.json()["status"] == "checked-in"
    # A checked-in patient is not cancelled: the lifecycle refuses (409), as the API does.
    refused = fhir.put(path, {**arrived.json(), "status": "cancelled", "cancelationReason": {"text": "x"}})
    assert refused.status_code == 409
    assert issue_code(refused) == "invalid_transition"
    done = fhir.patch(path, [{"op": "replace", "path": "/status", "value": "fulfilled"}])
    assert done.json()["status"] == "fulfilled"
    assert Appointment.objects.get(pk=int(created["id"])).status == AppointmentStatus.COMPLETED
    # Setting what already is, is no change.
    assert fhir.put(path, done.json()).status_code == 200
    back = fhir.put(path, {**done.json(), "status": "booked"})
    assert back.status_code == 409


def test_put_cancels_and_nothing_but_the_status_may_change(fhir, small_clinic):
    created = book(fhir, first_slot(fhir, small_clinic)["id"]).json()
    path = f"Appointment/{created['id']}"
    moved = {**created, "start": "2030-01-01T09:00:00+01:00"}
    response = fhir.put(path, moved)
    assert response.status_code == 422
    assert "Appointment.start" in response.json()["issue"][0]["expression"]
    for change in (
        {"comment": "changed"},
        {"slot": [{"reference": "Slot/1-1-1-1-0"}]},
        {"participant": created["participant"][:1]},
        {"status": "waitlist"},
        {"status": "unheard-of"},
    ):
        assert fhir.put(path, {**created, **change}).status_code == 422, change
    assert fhir.put(path, {**created, "id": "999"}).status_code == 400
    assert fhir.put(path, {k: v for k, v in created.items() if k != "id"}).status_code == 400
    cancelled = fhir.put(
        path, {**created, "status": "cancelled", "cancelationReason": {"coding": [{"code": "pat"}]}}
    )
    assert cancelled.status_code == 200, cancelled.text
    stored = Appointment.objects.get(pk=int(created["id"]))
    assert stored.status == AppointmentStatus.CANCELLED and stored.cancel_reason == "pat"
    assert fhir.get("Appointment/999999").status_code == 404
    assert fhir.put("Appointment/999999", {**created, "id": "999999"}).status_code == 404
    assert fhir.patch("Appointment/abc", []).status_code == 404


def test_a_clinician_sees_and_changes_only_their_own_providers_appointments(fhir, fhir_as, small_clinic):
    c = small_clinic
    own = book(fhir, first_slot(fhir, c, "Schedule/dr-a")["id"], "p-1").json()
    theirs = book(fhir, first_slot(fhir, c, "Schedule/dr-b")["id"], "p-2").json()
    nurse = fhir_as("clinician")
    user = Membership.objects.model.user.field.related_model.objects.get(username="fhir-clinician")
    Membership.objects.create(user=user, clinic=c["clinic"], provider=c["providers"][0])
    assert [r["id"] for r in entries(nurse.get("Appointment").json())] == [own["id"]]
    assert nurse.get(f"Appointment/{theirs['id']}").status_code == 404
    # May check in (change) their own, may not cancel or book.
    assert (
        nurse.patch(f"Appointment/{own['id']}", {"status": "checked-in"}, "application/json").status_code
        == 200
    )
    assert (
        nurse.patch(f"Appointment/{theirs['id']}", {"status": "checked-in"}, "application/json").status_code
        == 404
    )
    cancel = nurse.put(f"Appointment/{own['id']}", {**own, "status": "cancelled"})
    assert cancel.status_code == 403
    assert issue_code(cancel) == "forbidden"
    slot_id = first_slot(fhir, c, "Schedule/dr-a")["id"]
    assert nurse.post("Appointment", booking(slot_id, "p-3")).status_code == 403
