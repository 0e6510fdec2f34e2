"""The write flows: book, cancel, reschedule, status changes, the waitlist.

Each public service is one transaction with keyword-only arguments. A booking re-runs the
engine's check for that exact slot inside the transaction, then inserts; the database's
exclusion constraints are the last guard, and their refusal becomes ``SlotTaken`` naming
the conflict. Every change appends to the appointment's history and writes its outbox
event in the same transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from clinic.errors import InvalidTransition, NotFound, SlotTaken, SlotUnavailable, ValidationFailed
from clinic.models import AppointmentType, Clinic, Patient, Provider, Room
from clinic.transactions import service_transaction
from notifications.models import EventType
from notifications.outbox import PAYLOAD_RELATIONS, record_event
from scheduling import selectors
from scheduling.engine import Verdict
from scheduling.engine.calendar import local_date
from scheduling.models import (
    CONFLICT_BY_CONSTRAINT,
    Appointment,
    AppointmentHistory,
    AppointmentStatus,
    StatsDirtyDay,
    WaitlistEntry,
    WaitlistHistory,
    WaitlistStatus,
)
from scheduling.signals import slot_freed

S = AppointmentStatus
# Which statuses each action may start from; anything else is an invalid transition.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "confirm": ((S.BOOKED,), S.CONFIRMED),
    "check_in": ((S.BOOKED, S.CONFIRMED), S.CHECKED_IN),
    "complete": ((S.CHECKED_IN,), S.COMPLETED),
    "no_show": ((S.BOOKED, S.CONFIRMED), S.NO_SHOW),
    # A checked-in patient is in the building: they are seen (complete) or leave (no-show
    # is for those who never came), never cancelled or moved by the front desk.
    "cancel": ((S.BOOKED, S.CONFIRMED), S.CANCELLED),
}
EVENT_BY_ACTION = {
    "confirm": EventType.CONFIRMED,
    "check_in": EventType.CHECKED_IN,
    "no_show": EventType.NO_SHOW,
    "cancel": EventType.CANCELLED,
}
BACKFILL_LIMIT = 10
RECENT_CANCELLATION_DAYS = 7


@dataclass(frozen=True)
class BackfillCandidate:
    patient: Patient
    source: str  # "waitlist" or "recent_cancellation"
    rank: int
    reason: str
    freed: Appointment  # the slot offered is this appointment's time, provider and room
    overbook: bool = False  # booking it takes an overbooking seat


class Backfill(list[BackfillCandidate]):
    """Backfill candidates, best first; ``note`` says why there are none, when there are none."""

    def __init__(self, candidates: Iterable[BackfillCandidate] = (), note: str = "") -> None:
        super().__init__(candidates)
        self.note = note


def _history(appointment: Appointment, action: str, actor: Any, changes: dict[str, Any]) -> None:
    AppointmentHistory.objects.create(appointment=appointment, action=action, actor=actor, changes=changes)


def _locked(appointment_id: int, clinic: Clinic | None = None) -> Appointment:
    # What the event's payload names, and who booked it, for the API's answer.
    queryset = Appointment.objects.select_related(*PAYLOAD_RELATIONS, "created_by").select_for_update(
        of=("self",)
    )
    if clinic is not None:
        queryset = queryset.filter(clinic=clinic)
    appointment = queryset.filter(pk=appointment_id).first()
    if appointment is None:
        raise NotFound(f"No appointment with id {appointment_id}.")
    return appointment


def _insert(**fields: Any) -> Appointment:
    """Insert, turning an exclusion-constraint refusal into ``SlotTaken``.

    No savepoint: the caller's transaction is rolled back whole when this raises.
    """
    try:
        return Appointment.objects.create(**fields)
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        conflict = CONFLICT_BY_CONSTRAINT.get(constraint or "")
        if conflict is None:
            raise
        raise SlotTaken(
            f"Another booking already holds the {conflict} at that time.", conflict=conflict
        ) from exc


def _book(
    *,
    clinic: Clinic,
    patient: Patient,
    appointment_type: AppointmentType,
    provider: Provider,
    room: Room,
    start: dt.datetime,
    overbook: bool,
    note: str,
    actor: Any,
    now: dt.datetime,
    rescheduled_from: Appointment | None = None,
    backfill_of: Appointment | None = None,
) -> Appointment:
    end = start + dt.timedelta(minutes=appointment_type.duration_minutes)
    if backfill_of is not None:
        _check_refills(backfill_of, clinic=clinic, provider=provider, start=start, end=end)
    verdict = selectors.slot_check(
        clinic=clinic,
        appointment_type=appointment_type,
        provider=provider,
        room=room,
        patient=patient,
        start=start,
        overbook=overbook,
        now=now,
    )
    if verdict.conflict:
        raise SlotTaken(verdict.message, conflict=verdict.conflict)
    if not verdict.ok:
        raise SlotUnavailable(verdict.message, reason=verdict.reason)
    appointment = _insert(
        clinic=clinic,
        patient=patient,
        appointment_type=appointment_type,
        provider=provider,
        room=room,
        start=start,
        end=end,
        blocked_start=start - dt.timedelta(minutes=appointment_type.buffer_before_minutes),
        blocked_end=end + dt.timedelta(minutes=appointment_type.buffer_after_minutes),
        seat=verdict.seat,
        note=note,
        created_by=actor,
        rescheduled_from=rescheduled_from,
        backfill_of=backfill_of,
    )
    changes: dict[str, Any] = {
        "start": start.isoformat(),
        "provider": provider.code,
        "room": room.code,
        "seat": verdict.seat,
    }
    if backfill_of is not None:
        changes["backfill_of"] = backfill_of.pk
    _after_booking(appointment, actor, now, changes)
    return appointment


# One statement on the booking's hot path: the "booked" history row, the booking's days
# marked for the stats, and the waitlist entries it satisfies closed (most patients wait
# for nothing). Three ORM statements were three round trips on the busiest path there is.
AFTER_BOOKING_SQL = """
WITH booked AS (
  INSERT INTO scheduling_appointmenthistory (at, actor_id, action, changes, appointment_id)
  VALUES (%(at)s, %(actor)s, 'booked', %(changes)s::jsonb, %(appointment)s)
), marked AS (
  INSERT INTO scheduling_statsdirtyday (clinic_id, date, marked_at)
  SELECT %(clinic)s, day, %(now)s FROM unnest(%(days)s::date[]) AS day
)
UPDATE scheduling_waitlistentry SET status = 'closed', closed_at = %(now)s, closed_by_id = %(appointment)s
WHERE patient_id = %(patient)s AND appointment_type_id = %(type)s AND status = 'open'
RETURNING id
"""


def _stats_days(appointment: Appointment) -> list[dt.date]:
    """The clinic's local days the appointment's time touches (the stats count it there)."""
    tz = appointment.clinic.tz
    first = local_date(appointment.start, tz)
    last = local_date(appointment.end - dt.timedelta(microseconds=1), tz)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _mark_stats_dirty(appointment: Appointment, now: dt.datetime) -> None:
    StatsDirtyDay.objects.bulk_create(
        StatsDirtyDay(clinic_id=appointment.clinic_id, date=day, marked_at=now)
        for day in _stats_days(appointment)
    )


def _after_booking(appointment: Appointment, actor: Any, now: dt.datetime, changes: dict[str, Any]) -> None:
    """The booking's history row (``changes``) is written and its days are marked for the
    stats; the patient got what they waited for, so their open entries for this type
    close, each with its history row."""
    with connection.cursor() as cursor:
        cursor.execute(
            AFTER_BOOKING_SQL,
            {
                "at": timezone.now(),  # as the history rows' auto_now_add would
                "actor": actor.pk if actor is not None else None,
                "changes": json.dumps(changes),
                "clinic": appointment.clinic_id,
                "days": _stats_days(appointment),
                "now": now,
                "appointment": appointment.pk,
                "patient": appointment.patient_id,
                "type": appointment.appointment_type_id,
            },
        )
        closed = [pk for (pk,) in cursor.fetchall()]
    if closed:
        changes = {"status": [WaitlistStatus.OPEN, WaitlistStatus.CLOSED], "closed_by": appointment.pk}
        WaitlistHistory.objects.bulk_create(
            WaitlistHistory(entry_id=pk, action="closed", actor=actor, changes=changes) for pk in closed
        )


def _check_refills(
    backfill_of: Appointment, *, clinic: Clinic, provider: Provider, start: dt.datetime, end: dt.datetime
) -> None:
    """A booking may say it refills a cancellation only if it does: the appointment is a
    cancelled one of this clinic and the booking takes part of the time it freed, with the
    same provider. The stats count refills from this link, so a client cannot inflate them."""
    freed = (
        Appointment.objects.filter(pk=backfill_of.pk, clinic=clinic)
        .values("status", "provider_id", "start", "end")
        .first()
    )
    if freed is None:
        raise ValidationFailed({"backfill_of": f"No appointment with id {backfill_of.pk}."})
    if freed["status"] != S.CANCELLED:
        raise ValidationFailed(
            {"backfill_of": f"Appointment {backfill_of.pk} is not cancelled: only freed time is refilled."}
        )
    if freed["provider_id"] != provider.pk or not (freed["start"] < end and start < freed["end"]):
        raise ValidationFailed(
            {"backfill_of": f"This booking does not take the time appointment {backfill_of.pk} freed."}
        )


@service_transaction  # the API's Idempotency-Key stores its answer in this transaction
def appointment_book(
    *,
    clinic: Clinic,
    patient: Patient,
    appointment_type: AppointmentType,
    provider: Provider,
    room: Room,
    start: dt.datetime,
    overbook: bool = False,
    note: str = "",
    actor: Any = None,
    now: dt.datetime | None = None,
    backfill_of: Appointment | None = None,
) -> Appointment:
    appointment = _book(
        clinic=clinic,
        patient=patient,
        appointment_type=appointment_type,
        provider=provider,
        room=room,
        start=start,
        overbook=overbook,
        note=note,
        actor=actor,
        now=now or timezone.now(),
        backfill_of=backfill_of,
    )
    record_event(event_type=EventType.BOOKED, appointment=appointment, locked=True, first=True)
    return appointment


def transition_refusal(appointment: Appointment, action: str, now: dt.datetime) -> InvalidTransition | None:
    """Why ``action`` cannot happen to ``appointment`` now, or None when it can: the one
    rule the services enforce and the staff pages ask before offering the button."""
    allowed_from, _ = TRANSITIONS[action]
    if appointment.status not in allowed_from:
        return InvalidTransition(
            f"Cannot {action.replace('_', ' ')} an appointment that is"
            f" {appointment.get_status_display().lower()}.",
            status=appointment.status,
            action=action,
        )
    if action == "no_show" and now < appointment.start:
        return InvalidTransition("A no-show can only be marked after the appointment's start.", action=action)
    return None


def _transition(
    appointment: Appointment, action: str, actor: Any, now: dt.datetime, **fields: Any
) -> Appointment:
    refusal = transition_refusal(appointment, action, now)
    if refusal is not None:
        raise refusal
    _, target = TRANSITIONS[action]
    old = appointment.status
    appointment.status = target
    for name, value in fields.items():
        setattr(appointment, name, value)
    appointment.save(update_fields=["status", "updated_at", *fields])
    _history(appointment, action, actor, {"status": [old, target], **{k: str(v) for k, v in fields.items()}})
    _mark_stats_dirty(appointment, now)
    return appointment


@transaction.atomic(durable=True)
def appointment_change_status(
    *,
    appointment_id: int,
    action: str,
    actor: Any = None,
    clinic: Clinic | None = None,
    now: dt.datetime | None = None,
) -> Appointment:
    """Confirm, check in, complete or mark a no-show."""
    if action not in TRANSITIONS or action == "cancel":
        raise ValidationFailed({"action": f"Unknown action {action!r}."})
    appointment = _transition(_locked(appointment_id, clinic), action, actor, now or timezone.now())
    if action in EVENT_BY_ACTION:
        record_event(event_type=EVENT_BY_ACTION[action], appointment=appointment, locked=True)
    return appointment


@transaction.atomic(durable=True)
def appointment_update_note(
    *, appointment_id: int, note: str, actor: Any = None, clinic: Clinic | None = None
) -> Appointment:
    """Change an appointment's note, the one thing staff edit by hand, with its history."""
    appointment = _locked(appointment_id, clinic)
    if appointment.note != note:
        _history(appointment, "note", actor, {"note": [appointment.note, note]})
        appointment.note = note
        appointment.save(update_fields=["note", "updated_at"])
    return appointment


def _cancel(appointment: Appointment, reason: str, actor: Any, now: dt.datetime) -> Appointment:
    return _transition(
        appointment, "cancel", actor, now, cancelled_at=now, cancel_reason=reason[:200], cancelled_by=actor
    )


@transaction.atomic(durable=True)
def appointment_cancel(
    *,
    appointment_id: int,
    reason: str = "",
    actor: Any = None,
    clinic: Clinic | None = None,
    now: dt.datetime | None = None,
) -> tuple[Appointment, Backfill]:
    """Cancel, freeing the time at once; answers with who could take the freed time."""
    now = now or timezone.now()
    appointment = _cancel(_locked(appointment_id, clinic), reason, actor, now)
    record_event(event_type=EventType.CANCELLED, appointment=appointment, reason=reason or None, locked=True)
    candidates = backfill_candidates(freed=appointment, now=now)
    _announce_to_waitlist(appointment, candidates, now)
    return appointment, candidates


@transaction.atomic(durable=True)
def appointment_reschedule(
    *,
    appointment_id: int,
    start: dt.datetime,
    provider: Provider | None = None,
    room: Room | None = None,
    overbook: bool = False,
    actor: Any = None,
    clinic: Clinic | None = None,
    now: dt.datetime | None = None,
) -> tuple[Appointment, Appointment, Backfill]:
    """Book the new time and cancel the old one, atomically: if the new time cannot be
    booked, nothing changes. The old one is cancelled first, so the new time may overlap it.
    Only a booked or confirmed appointment moves; ``overbook`` asks for an overbooking seat,
    as a booking does."""
    now = now or timezone.now()
    old = _locked(appointment_id, clinic)
    _cancel(old, "rescheduled", actor, now)
    new = _book(
        clinic=old.clinic,
        patient=old.patient,
        appointment_type=old.appointment_type,
        provider=provider or old.provider,
        room=room or old.room,
        start=start,
        overbook=overbook,
        note=old.note,
        actor=actor,
        now=now,
        rescheduled_from=old,
    )
    record_event(
        event_type=EventType.RESCHEDULED,
        appointment=new,
        previous=old,
        reason="rescheduled",
        locked=True,
        first=True,
    )
    candidates = backfill_candidates(freed=old, now=now)
    _announce_to_waitlist(old, candidates, now)
    return new, old, candidates


def _announce_to_waitlist(freed: Appointment, candidates: Backfill, now: dt.datetime) -> None:
    """The freed time goes to whoever offers it (the ``offers`` app: the best waitlisted
    candidates, each with a personal accept link), in this transaction."""
    slot_freed.send(sender=Appointment, freed=freed, candidates=candidates, now=now)


def backfill_candidates(*, freed: Appointment, now: dt.datetime) -> Backfill:
    """Who could take ``freed``'s time, best first (at most 10): open waitlist entries that
    fit, then patients whose same-type appointment was cancelled in the last 7 days.

    Every candidate passes the engine's check for that exact slot and that patient, as
    their booking would at this moment (notice, hours, time off, closures, buffers,
    equipment, seats, their own other bookings). When there is none, ``note`` says why.
    """
    overbook, verdict = _freed_slot_verdict(freed, patient=None, now=now)
    if not verdict.ok:
        return Backfill(note=f"Nobody can be offered this time: {verdict.message}")
    candidates = Backfill()
    refusals: list[str] = []
    for candidate in _backfill_patients(freed, now):
        _, verdict = _freed_slot_verdict(freed, patient=candidate.patient, now=now, overbook=overbook)
        if not verdict.ok:
            refusals.append(verdict.message)
            continue
        candidates.append(dataclasses.replace(candidate, rank=len(candidates) + 1, overbook=overbook))
        if len(candidates) == BACKFILL_LIMIT:
            break
    if not candidates:
        candidates.note = (
            f"No candidate can take this time: {refusals[0]}"
            if refusals
            else "Nobody on the waitlist or among recent cancellations fits this time."
        )
    return candidates


def _freed_slot_verdict(
    freed: Appointment, *, patient: Patient | None, now: dt.datetime, overbook: bool | None = None
) -> tuple[bool, Verdict]:
    """The engine's verdict on booking ``freed``'s exact time, provider and room again, and
    whether that takes an overbooking seat. A freed overbooking seat is offered as a
    regular one when the regular seat has become free meanwhile."""

    def check(extra_seat: bool) -> Verdict:
        return selectors.slot_check(
            clinic=freed.clinic,
            appointment_type=freed.appointment_type,
            provider=freed.provider,
            room=freed.room,
            patient=patient,
            start=freed.start,
            overbook=extra_seat,
            now=now,
        )

    if overbook is None:
        overbook = freed.overbook
        verdict = check(overbook)
        if overbook and verdict.reason == "overbooking_not_needed":
            overbook, verdict = False, check(False)
        return overbook, verdict
    return overbook, check(overbook)


def _backfill_patients(freed: Appointment, now: dt.datetime) -> Iterator[BackfillCandidate]:
    """Everyone who might take the freed time, best first, each patient once; not yet
    checked against the engine."""
    busy = set(
        Appointment.objects.active()
        .overlapping(freed.start, freed.end)
        .filter(clinic_id=freed.clinic_id)
        .values_list("patient_id", flat=True)
    )
    seen = {freed.patient_id} | busy
    day = local_date(freed.start, freed.clinic.tz)
    type_code = freed.appointment_type.code

    waitlisted = (
        WaitlistEntry.objects.open()
        .filter(clinic_id=freed.clinic_id, appointment_type_id=freed.appointment_type_id)
        .filter(earliest__lte=day, latest__gte=day)
        .select_related("patient")
        .order_by("created_at", "pk")
    )
    for entry in waitlisted:
        if entry.provider_id not in (None, freed.provider_id) or entry.patient_id in seen:
            continue
        seen.add(entry.patient_id)
        yield BackfillCandidate(
            patient=entry.patient,
            source="waitlist",
            rank=0,
            reason=f"waitlisted for {type_code} {entry.earliest.isoformat()}..{entry.latest.isoformat()}",
            freed=freed,
        )

    holds_that_type = Appointment.objects.active().filter(
        patient_id=OuterRef("patient_id"), appointment_type_id=freed.appointment_type_id
    )
    recent = (
        Appointment.objects.filter(
            clinic_id=freed.clinic_id,
            appointment_type_id=freed.appointment_type_id,
            status=S.CANCELLED,
            cancelled_at__gte=now - dt.timedelta(days=RECENT_CANCELLATION_DAYS),
            cancelled_at__lte=now,
        )
        .exclude(pk=freed.pk)
        .exclude(Exists(holds_that_type))
        .select_related("patient")
    )
    by_closeness = sorted(recent, key=lambda a: (abs((a.start - freed.start).total_seconds()), a.pk))
    for cancelled in by_closeness:
        if cancelled.patient_id in seen:
            continue
        seen.add(cancelled.patient_id)
        local_start = cancelled.start.astimezone(freed.clinic.tz)
        yield BackfillCandidate(
            patient=cancelled.patient,
            source="recent_cancellation",
            rank=0,
            reason=f"cancelled {type_code} on {local_start:%Y-%m-%d %H:%M}",
            freed=freed,
        )


def _waitlist_history(entry: WaitlistEntry, action: str, actor: Any, changes: dict[str, Any]) -> None:
    WaitlistHistory.objects.create(entry=entry, action=action, actor=actor, changes=changes)


@service_transaction  # the API's Idempotency-Key stores its answer in this transaction
def waitlist_add(
    *,
    clinic: Clinic,
    patient: Patient,
    appointment_type: AppointmentType,
    earliest: dt.date,
    latest: dt.date,
    provider: Provider | None = None,
    note: str = "",
    actor: Any = None,
) -> WaitlistEntry:
    if latest < earliest:
        raise ValidationFailed({"latest": "latest must not be before earliest."})
    entry = WaitlistEntry.objects.create(
        clinic=clinic,
        patient=patient,
        appointment_type=appointment_type,
        provider=provider,
        earliest=earliest,
        latest=latest,
        note=note,
    )
    _waitlist_history(
        entry,
        "added",
        actor,
        {
            "patient": patient.code,
            "appointment_type": appointment_type.code,
            "provider": provider.code if provider else None,
            "earliest": earliest.isoformat(),
            "latest": latest.isoformat(),
            "note": note,
        },
    )
    return entry


@transaction.atomic(durable=True)
def waitlist_close(
    *,
    entry_id: int,
    clinic: Clinic,
    reason: str = "",
    actor: Any = None,
    now: dt.datetime | None = None,
) -> WaitlistEntry:
    """Close an open waitlist entry by hand (the patient no longer waits); the entry and
    its history stay."""
    entry = (
        WaitlistEntry.objects.select_related("clinic", "patient", "appointment_type", "provider")
        .select_for_update(of=("self",))
        .filter(clinic=clinic, pk=entry_id)
        .first()
    )
    if entry is None:
        raise NotFound(f"No waitlist entry with id {entry_id}.")
    if entry.status != WaitlistStatus.OPEN:
        raise InvalidTransition("That waitlist entry is already closed.", status=entry.status, action="close")
    entry.status = WaitlistStatus.CLOSED
    entry.closed_at = now or timezone.now()
    entry.close_reason = reason[:200]
    entry.save(update_fields=["status", "closed_at", "close_reason"])
    _waitlist_history(
        entry,
        "closed",
        actor,
        {"status": [WaitlistStatus.OPEN, WaitlistStatus.CLOSED], "reason": entry.close_reason},
    )
    return entry
