"""Recording appointment events: an outbox row written in the caller's transaction.

A committed change always has its event and a rolled-back one never does; the hub is only
contacted after commit, by a task (see ``delivery.py``), so a slow or absent hub can
neither fail nor slow the change itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import zoneinfo
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from clinic.models import Patient
from notifications.models import EventType, OutboxEvent, OutboxStatus
from scheduling.engine.calendar import local_iso
from scheduling.models import Appointment

logger = logging.getLogger(__name__)

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
    offer: dict[str, Any] | None = None,
) -> OutboxEvent:
    """Write the outbox row announcing a change to ``appointment``.

    Precondition: called inside the transaction that saved the change, after saving it;
    the payload describes the appointment as stored. ``patient`` is the recipient when it
    is not the appointment's own (``waitlist.slot_available``, where ``appointment`` is
    the cancelled one whose time is offered); ``previous`` is the
    appointment a reschedule replaced. ``locked=True`` says the caller holds the row (it
    locked it, or inserted it in this transaction) with ``PAYLOAD_RELATIONS`` loaded;
    ``first=True`` that the appointment was created in this transaction, so no event of
    it exists yet. ``offer`` (``waitlist.slot_available`` only) is the patient's personal
    offer: its accept link and until when it holds.
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
    recipient = patient or locked_appointment.patient
    if kind == EventType.WAITLIST_SLOT_AVAILABLE:
        payload = build_slot_payload(locked_appointment, patient=recipient, offer=offer)
    else:
        payload = build_payload(locked_appointment, previous=previous, reason=reason, patient=recipient)
    hub_configured = bool(settings.NOTIFICATION_HUB_URL)
    event = OutboxEvent.objects.create(
        event_type=kind.value,
        event_id=f"{kind.value}:{locked_appointment.pk}:{sequence}",
        appointment=locked_appointment,
        sequence=sequence,
        payload=payload,
        status=OutboxStatus.PENDING if hub_configured else OutboxStatus.SKIPPED,
    )
    if hub_configured:
        # robust: the change is committed by then; a broker hiccup must not turn it into an
        # error. The row stays pending and the every-minute sweep delivers it.
        transaction.on_commit(functools.partial(enqueue_delivery, event.pk), robust=True)
    return event


def enqueue_delivery(event_pk: int) -> None:
    """Queue the event's delivery; runs after the change has committed.

    A broker that does not answer (Redis down) is logged here, never raised: the change is
    committed and its event stays pending, for the every-minute sweep once a cluster runs
    again. ``on_commit(robust=True)`` alone is not enough: Django 5.2 names the failed
    callback by its ``__qualname__``, which a ``functools.partial`` lacks, so its own
    logging raised and a committed booking was answered 500.
    """
    from django_q.tasks import async_task  # the task machinery loads only when used

    try:
        async_task(DELIVERY_TASK, event_pk)
    except Exception as exc:
        logger.warning(
            "Could not queue outbox event %s for delivery (%s); the sweep delivers it later.",
            event_pk,
            type(exc).__name__,
        )


def schedule_delivery(event_pk: int, at: dt.datetime) -> None:
    """Deliver the event at ``at``: a one-off django-q2 schedule, deleted once it has run.

    The cluster looks at its schedules about every 30 seconds, so the delivery starts
    between ``at`` and half a minute later.
    """
    from django_q.models import Schedule
    from django_q.tasks import schedule

    # Logged, never raised, like enqueue_delivery: it runs after commit; the sweep retries.
    try:
        schedule(DELIVERY_TASK, event_pk, schedule_type=Schedule.ONCE, next_run=at)
    except Exception as exc:
        logger.warning(
            "Could not schedule the retry of outbox event %s (%s); the sweep retries it.",
            event_pk,
            type(exc).__name__,
        )


def build_payload(
    appointment: Appointment,
    *,
    previous: Appointment | None,
    reason: str | None,
    patient: Patient,
) -> dict[str, Any]:
    """The minimum a message needs, exactly as notifications.md shows it: no birth date,
    no notes, nothing clinical."""
    tz = appointment.clinic.tz
    return {
        "appointment": appointment_summary(appointment, tz),
        **_people_and_places(appointment, patient),
        "previous": appointment_summary(previous, tz) if previous is not None else None,
        "reason": reason,
        "locale": PAYLOAD_LOCALE,
    }


def build_slot_payload(
    freed: Appointment, *, patient: Patient, offer: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``waitlist.slot_available``: the free time offered to a waitlisted ``patient``.

    It names the time, the type, provider and room, and nothing of the appointment that
    freed it (someone else's, now cancelled): no ``appointment`` for a template to read
    as the patient's own booking, no status. With ``offer``, also ``offer``: the patient's
    personal ``accept_url`` and ``expires_at`` (local time), for the message to link to.
    """
    tz = freed.clinic.tz
    payload = {
        "slot": {
            "type": freed.appointment_type.name,
            "start": local_iso(freed.start, tz),
            "end": local_iso(freed.end, tz),
        },
        **_people_and_places(freed, patient),
        "locale": PAYLOAD_LOCALE,
    }
    if offer is not None:
        payload["offer"] = offer
    return payload


def _people_and_places(appointment: Appointment, patient: Patient) -> dict[str, Any]:
    clinic = appointment.clinic
    return {
        "patient": {
            "code": patient.code,
            "first_name": patient.first_name,
            "email": patient.email,
            "phone": patient.phone,
        },
        "provider": {"code": appointment.provider.code, "name": appointment.provider.name},
        "room": {"code": appointment.room.code, "name": appointment.room.name},
        "clinic": {"code": clinic.code, "name": clinic.name},
    }


def appointment_summary(appointment: Appointment, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    return {
        "id": appointment.pk,
        "type": appointment.appointment_type.name,
        "start": local_iso(appointment.start, tz),
        "end": local_iso(appointment.end, tz),
        "status": str(appointment.status),
    }
