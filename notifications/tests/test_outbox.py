"""Recording events: in the caller's transaction, with exactly the payload of the spec."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from clinic.tests.factories import PatientFactory, WorkingHoursFactory
from notifications.models import EventType, OutboxEvent, OutboxStatus
from notifications.outbox import record_event
from scheduling.models import AppointmentStatus
from scheduling.services import appointment_cancel
from scheduling.tests.factories import AppointmentFactory, WaitlistEntryFactory


@pytest.mark.django_db
def test_payload_is_exactly_the_one_in_the_spec(
    appointment, hub_settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        event = record_event(event_type="appointment.booked", appointment=appointment)

    assert event.payload == {
        "appointment": {
            "id": appointment.pk,
            "type": "ECG check",
            "start": "2027-03-08T09:00:00+01:00",
            "end": "2027-03-08T09:30:00+01:00",
            "status": "booked",
        },
        "patient": {
            "code": "p-1001",
            "first_name": "Jonas",
            "email": "jonas@example.org",
            "phone": "+49 30 1234567",
        },
        "provider": {"code": "dr-weber", "name": "Dr. Anna Weber"},
        "room": {"code": "r1", "name": "Room 1"},
        "clinic": {"code": "riverside", "name": "Riverside Family Practice"},
        "previous": None,
        "reason": None,
        "locale": "en",
    }


@pytest.mark.django_db
def test_payload_uses_the_local_offset_in_force_on_the_day(appointment, no_hub):
    appointment.start = dt.datetime(2027, 7, 1, 7, 0, tzinfo=dt.UTC)
    appointment.end = appointment.start + dt.timedelta(minutes=30)
    appointment.blocked_start, appointment.blocked_end = appointment.start, appointment.end
    appointment.save()

    event = record_event(event_type=EventType.CONFIRMED, appointment=appointment)

    assert event.payload["appointment"]["start"] == "2027-07-01T09:00:00+02:00"
    assert event.payload["appointment"]["end"] == "2027-07-01T09:30:00+02:00"


@pytest.mark.django_db
def test_rescheduled_event_carries_the_previous_appointment_and_reason(appointment, no_hub):
    appointment.status = AppointmentStatus.CANCELLED
    appointment.save()
    new = AppointmentFactory(
        clinic=appointment.clinic,
        patient=appointment.patient,
        appointment_type=appointment.appointment_type,
        provider=appointment.provider,
        room=appointment.room,
        start=appointment.start + dt.timedelta(minutes=15),
        rescheduled_from=appointment,
    )

    event = record_event(
        event_type="appointment.rescheduled", appointment=new, previous=appointment, reason="rescheduled"
    )

    assert event.appointment == new
    assert event.payload["appointment"]["start"] == "2027-03-08T09:15:00+01:00"
    assert event.payload["previous"] == {
        "id": appointment.pk,
        "type": "ECG check",
        "start": "2027-03-08T09:00:00+01:00",
        "end": "2027-03-08T09:30:00+01:00",
        "status": "cancelled",
    }
    assert event.payload["reason"] == "rescheduled"


@pytest.mark.django_db
def test_slot_available_names_the_free_time_for_the_waitlisted_patient(appointment, no_hub):
    appointment.status = AppointmentStatus.CANCELLED
    appointment.save()
    waiting = PatientFactory(clinic=appointment.clinic, code="p-2002", first_name="Mara", email="", phone="")

    event = record_event(event_type="waitlist.slot_available", appointment=appointment, patient=waiting)

    # The free time, plainly; nothing of the cancelled appointment it was (no id, no
    # status) for a hub template to read as the waitlisted patient's own booking.
    assert event.payload == {
        "slot": {
            "type": "ECG check",
            "start": "2027-03-08T09:00:00+01:00",
            "end": "2027-03-08T09:30:00+01:00",
        },
        "patient": {"code": "p-2002", "first_name": "Mara", "email": "", "phone": ""},
        "provider": {"code": "dr-weber", "name": "Dr. Anna Weber"},
        "room": {"code": "r1", "name": "Room 1"},
        "clinic": {"code": "riverside", "name": "Riverside Family Practice"},
        "locale": "en",
    }
    assert event.event_id == f"waitlist.slot_available:{appointment.pk}:1"


@pytest.mark.django_db
def test_payload_carries_nothing_private(appointment, no_hub):
    event = record_event(event_type="appointment.booked", appointment=appointment)

    text = str(event.payload)
    assert "1980" not in text
    assert "Private clinical note" not in text
    assert "Becker" not in text


@pytest.mark.django_db
def test_event_ids_follow_one_sequence_across_event_types(appointment, no_hub):
    kinds = ["appointment.booked", "appointment.confirmed", "appointment.checked_in"]

    events = [record_event(event_type=kind, appointment=appointment) for kind in kinds]

    assert [e.event_id for e in events] == [f"{kind}:{appointment.pk}:{n}" for n, kind in enumerate(kinds, 1)]
    assert [e.sequence for e in events] == [1, 2, 3]


@pytest.mark.django_db
def test_unknown_event_type_is_refused(appointment, no_hub):
    with pytest.raises(ValueError):
        record_event(event_type="appointment.teleported", appointment=appointment)


@pytest.mark.django_db
def test_without_a_hub_the_event_is_stored_as_skipped_and_nothing_is_enqueued(
    appointment, no_hub, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        event = record_event(event_type="appointment.booked", appointment=appointment)

    assert event.status == OutboxStatus.SKIPPED
    assert callbacks == []


@pytest.mark.django_db
def test_with_a_hub_the_event_is_pending_and_delivery_is_enqueued_after_commit(
    appointment, hub_settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        event = record_event(event_type="appointment.booked", appointment=appointment)

    assert event.status == OutboxStatus.PENDING
    assert len(callbacks) == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_leaves_no_event_and_contacts_no_hub(appointment, hub, hub_settings, sync_tasks):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        record_event(event_type="appointment.booked", appointment=appointment)
        raise Boom

    assert not OutboxEvent.objects.exists()
    assert hub.received == []


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused(appointment, no_hub):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        record_event(event_type="appointment.booked", appointment=appointment)
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_recording_costs_three_queries(appointment, hub_settings, django_assert_num_queries):
    # Lock and load the appointment with what the payload names, find the last
    # sequence, insert. Booking is a hot path.
    with django_assert_num_queries(3):
        record_event(event_type="appointment.booked", appointment=appointment)


@pytest.mark.django_db
def test_a_cancellation_offers_its_time_to_the_waitlist_as_a_free_slot(appointment, no_hub):
    clinic = appointment.clinic
    WorkingHoursFactory(provider=appointment.provider, weekday=0, start=dt.time(8), end=dt.time(12))
    waiting = PatientFactory(clinic=clinic, code="p-2002", first_name="Mara", email="mara@example.org")
    WaitlistEntryFactory(clinic=clinic, patient=waiting, appointment_type=appointment.appointment_type)

    appointment_cancel(
        appointment_id=appointment.pk, reason="sick", now=dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    )

    event = OutboxEvent.objects.get(event_type="waitlist.slot_available")
    assert event.payload["slot"] == {
        "type": "ECG check",
        "start": "2027-03-08T09:00:00+01:00",
        "end": "2027-03-08T09:30:00+01:00",
    }
    assert "appointment" not in event.payload
    assert event.payload["patient"]["email"] == "mara@example.org"
