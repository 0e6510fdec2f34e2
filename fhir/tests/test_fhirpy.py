"""A real FHIR client that has never seen this project (fhirpy) finds a practitioner's
free slots and books one, then cancels it, against the live server."""

from __future__ import annotations

import datetime as dt

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from clinic.models import Provider
from scheduling.models import Appointment, AppointmentStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_fhirpy_lists_a_practitioners_free_slots_and_books_one(fhir_base, small_clinic, desk_token):
    Provider.objects.filter(code="dr-b").update(name="Dr. Sarah Chen")
    # Connection: close, so that no server thread (and its database connection) outlives the test.
    client = SyncFHIRClient(
        fhir_base, authorization=f"Bearer {desk_token}", extra_headers={"Connection": "close"}
    )
    day = small_clinic["day"]

    # What the server does: the CapabilityStatement.
    statement = client.execute("metadata", method="get")
    assert "Slot" in {r["type"] for r in statement["rest"][0]["resource"]}

    # The practitioner, their schedule, the kind of visit and the patient, by the usual searches.
    practitioner = client.resources("Practitioner").search(name="chen").first()
    assert practitioner is not None and practitioner.id == "dr-b"
    schedule = client.resources("Schedule").search(actor=practitioner.reference).first()
    service = client.resources("HealthcareService").search(name="consultation").first()
    patient = client.resources("Patient").search(identifier="p-3").first()

    # Their free slots in the first week, the best first; every page, through the next links.
    slots = (
        client.resources("Slot")
        .search(schedule=schedule.reference, service_type=service.id, status="free")
        .search(start__ge=day, start__lt=day + dt.timedelta(days=7))
        .limit(25)
    )
    every = slots.fetch_all()
    assert len(every) == slots.count() > 25  # several pages
    assert {s["schedule"]["reference"] for s in every} == {"Schedule/dr-b"}
    best = every[0]

    appointment = client.resource(
        "Appointment",
        status="booked",
        slot=[best.to_reference()],
        participant=[{"actor": patient.to_reference(), "status": "accepted"}],
    )
    appointment.save()
    assert appointment.id
    stored = Appointment.objects.get(pk=int(appointment.id))
    assert (stored.provider.code, stored.patient.code) == ("dr-b", "p-3")
    assert stored.start == dt.datetime.fromisoformat(best["start"])

    # Read back through its reference; the slot is no longer free.
    again = client.reference("Appointment", appointment.id).to_resource()
    assert again["status"] == "booked"
    assert client.reference("Slot", best.id).to_resource()["status"] == "busy"

    # A second booking of the same slot: the server's 409 OperationOutcome.
    second = client.resource(
        "Appointment",
        status="booked",
        slot=[best.to_reference()],
        participant=[{"actor": {"reference": "Patient/p-4"}, "status": "accepted"}],
    )
    with pytest.raises(OperationOutcome) as refused:
        second.save()
    assert refused.value.resource["issue"][0]["code"] == "conflict"
    with pytest.raises(ResourceNotFound):
        client.reference("Appointment", "999999").to_resource()

    # Cancelled, as fhirpy patches: the fields that changed.
    again["status"] = "cancelled"
    again["cancelationReason"] = {"text": "patient rang to cancel"}
    again.save(fields=["status", "cancelationReason"])
    assert again["status"] == "cancelled"
    stored.refresh_from_db()
    assert stored.status == AppointmentStatus.CANCELLED
    assert stored.cancel_reason == "patient rang to cancel"
