"""Recording appointment events: an outbox row written in the caller's transaction.

A committed change always has its event and a rolled-back one never does; the hub is only
contacted after commit, by a task (see ``delivery.py``), so a slow or absent hub can
neither fail nor slow the change itself.
"""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from clinic.models import Patient
from notifications.models import EventType, OutboxEvent, OutboxStatus
from scheduling.engine.calendar import local_iso
from scheduling.models import Appointment

DELIVERY_TASK = "notifications.delivery.deliver_event"
PAYLOAD_LOCALE = "en"
# What a payload names, loaded with the appointment in one query.
PAYLOAD_RELATIONS = ("clinic", "patient", "appointment_type", "provider", "room")


def record_event(
    *,
    event_type: str,
    appointment: Appointment,
    previous: Appointment | None = None,
    reason: str | None = None,
    patient: Patient | None = None,
    locked: bool = False,
    first: bool = False,
) -> OutboxEvent:
    """Write the outbox row announcing a change to ``appointment``.

    Precondition: called inside the transaction that saved the change, after saving it;
    the payload describes the appointment as stored. ``patient`` is the recipient when it
    is not the appointment's own (``waitlist.slot_available``); ``previous`` is the
    appointment a reschedule replaced. ``locked=True`` says the caller holds the row (it
    locked it, or inserted it in this transaction) with ``PAYLOAD_RELATIONS`` loaded;
    ``first=True`` that the appointment was created in this transaction, so no event of
    it exists yet.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_event() must run inside the transaction of the change it announces.")
    kind = EventType(event_type)
    # The row lock serialises events of one appointment, so sequence numbers are handed
    # out in commit order (and the unique constraint never fires). The services already
    # hold it, with what the payload names loaded (``locked=True``); otherwise one query
    # takes the lock and loads them.
    if locked:
        locked_appointment = appointment
    else:
        locked_appointment = (
            Appointment.objects.select_related(*PAYLOAD_RELATIONS)
            .select_for_update(of=("self",))
            .get(pk=appointment.pk)
        )
    if first:
        sequence = 1
    else:
        last = OutboxEvent.objects.filter(appointment=locked_appointment).aggregate(last=Max("sequence"))
        sequence = (last["last"] or 0) + 1
    hub_configured = bool(settings.NOTIFICATION_HUB_URL)
    event = OutboxEvent.objects.create(
        event_type=kind.value,
        event_id=f"{kind.value}:{locked_appointment.pk}:{sequence}",
        appointment=locked_appointment,
        sequence=sequence,
        payload=build_payload(
            locked_appointment,
            previous=previous,
            reason=reason,
            patient=patient or locked_appointment.patient,
        ),
        status=OutboxStatus.PENDING if hub_configured else OutboxStatus.SKIPPED,
    )
    if hub_configured:
        # robust: the change is committed by then; a broker hiccup must not turn it into an
        # error. The row stays pending and the every-minute sweep delivers it.
        transaction.on_commit(functools.partial(enqueue_delivery, event.pk), robust=True)
    return event


def enqueue_delivery(event_pk: int) -> None:
    from django_q.tasks import async_task  # the task machinery loads only when used

    async_task(DELIVERY_TASK, event_pk)


def build_payload(
    appointment: Appointment,
    *,
    previous: Appointment | None,
    reason: str | None,
    patient: Patient,
) -> dict[str, Any]:
    """The minimum a message needs, exactly as notifications.md shows it: no birth date,
    no notes, nothing clinical."""
    clinic = appointment.clinic
    tz = clinic.tz
    return {
        "appointment": appointment_summary(appointment, tz),
        "patient": {
            "code": patient.code,
            "first_name": patient.first_name,
            "email": patient.email,
            "phone": patient.phone,
        },
        "provider": {"code": appointment.provider.code, "name": appointment.provider.name},
        "room": {"code": appointment.room.code, "name": appointment.room.name},
        "clinic": {"code": clinic.code, "name": clinic.name},
        "previous": appointment_summary(previous, tz) if previous is not None else None,
        "reason": reason,
        "locale": PAYLOAD_LOCALE,
    }


def appointment_summary(appointment: Appointment, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    return {
        "id": appointment.pk,
        "type": appointment.appointment_type.name,
        "start": local_iso(appointment.start, tz),
        "end": local_iso(appointment.end, tz),
        "status": str(appointment.status),
    }
