"""Appointments, their transitions, cancel and reschedule with backfill, the waitlist, stats."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja import Field, Query, Router, Schema

from clinic.access import scope
from clinic.api import answers, check_dates, idempotent, local_iso, parse_aware
from clinic.errors import NotFound, ValidationFailed
from clinic.models import AppointmentType, Clinic, Patient, Provider, Room
from scheduling import access, jobs, selectors, services
from scheduling.models import Appointment, AppointmentStatus, WaitlistEntry

router = Router()
MAX_LIST = 1000


class AppointmentIn(Schema):
    patient: str = Field(..., max_length=64)
    appointment_type: str = Field(..., max_length=64)
    provider: str = Field(..., max_length=64)
    room: str = Field(..., max_length=64)
    start: str = Field(..., max_length=64, description="ISO 8601 with an offset or Z.")
    overbook: bool = False
    note: str = Field("", max_length=2000)
    backfill_of: int | None = Field(
        None, ge=1, description="The cancelled appointment whose freed time this refills (from backfill)."
    )


class CancelIn(Schema):
    reason: str = Field("", max_length=200)


class RescheduleIn(Schema):
    start: str = Field(..., max_length=64)
    provider: str | None = Field(None, max_length=64, description="Defaults to the current provider.")
    room: str | None = Field(None, max_length=64, description="Defaults to the current room.")
    overbook: bool = Field(False, description="Take an overbooking seat, as a booking may.")


class WaitlistCloseIn(Schema):
    reason: str = Field("", max_length=200)


class WaitlistIn(Schema):
    patient: str = Field(..., max_length=64)
    appointment_type: str = Field(..., max_length=64)
    provider: str | None = Field(None, max_length=64)
    earliest: dt.date
    latest: dt.date
    note: str = Field("", max_length=500)


class AppointmentOut(Schema):
    id: int
    patient: str
    appointment_type: str
    provider: str
    room: str
    start: str
    end: str
    status: str
    overbook: bool
    note: str
    created_at: str
    created_by: str | None
    cancelled_at: str | None = None
    cancel_reason: str = ""


class HistoryOut(Schema):
    at: str
    action: str
    actor: str | None
    changes: dict[str, Any]


class AppointmentDetailOut(AppointmentOut):
    history: list[HistoryOut] = Field(description="Every change, oldest first.")


class BackfillSlotOut(Schema):
    start: str
    end: str
    provider: str
    room: str
    overbook: bool = Field(
        description='The freed seat is an overbooking seat: book it with "overbook": true.'
    )


class BackfillOut(Schema):
    patient: str
    source: str = Field(description="waitlist or recent_cancellation")
    rank: int
    reason: str
    slot: BackfillSlotOut


class CancelOut(Schema):
    appointment: AppointmentOut
    backfill: list[BackfillOut] = Field(description="Who could take the freed time, best first; at most 10.")
    backfill_note: str | None


class RescheduleOut(Schema):
    appointment: AppointmentOut = Field(description="The new booking.")
    previous: AppointmentOut = Field(description="The old one, now cancelled (reason rescheduled).")
    backfill: list[BackfillOut]
    backfill_note: str | None


class WaitlistOut(Schema):
    id: int
    patient: str
    appointment_type: str
    provider: str | None
    earliest: str
    latest: str
    note: str
    status: str
    created_at: str
    closed_at: str | None
    close_reason: str


class ProviderStatsOut(Schema):
    provider: str
    available_minutes: int
    booked_minutes: int
    utilization: float
    appointments: int
    cancellations: int
    no_shows: int
    backfilled: int


class RoomStatsOut(Schema):
    room: str
    available_minutes: int
    booked_minutes: int
    utilization: float


class TotalsOut(Schema):
    available_minutes: int
    booked_minutes: int
    utilization: float
    appointments: int
    cancellations: int
    no_shows: int
    backfilled: int


class StatsOut(Schema):
    date: str
    computed_at: str = Field(description="When these figures were computed.")
    providers: list[ProviderStatsOut]
    rooms: list[RoomStatsOut]
    totals: TotalsOut


class ListParams(Schema):
    date: dt.date | None = None
    provider: str | None = Field(None, max_length=64)
    patient: str | None = Field(None, max_length=64)
    status: AppointmentStatus | None = None
    clinic: str | None = Field(None, max_length=64)
    limit: int = Field(100, ge=1, le=MAX_LIST)
    offset: int = Field(0, ge=0, le=2**31 - 1)


class AppointmentListOut(Schema):
    appointments: list[AppointmentOut]
    total: int = Field(description="Every appointment that matches, before limit and offset.")
    next: str | None = Field(description="The next page's URL, or null on the last page.")


def appointment_out(a: Appointment) -> dict[str, Any]:
    clinic = a.clinic
    return {
        "id": a.pk,
        "patient": a.patient.code,
        "appointment_type": a.appointment_type.code,
        "provider": a.provider.code,
        "room": a.room.code,
        "start": local_iso(a.start, clinic),
        "end": local_iso(a.end, clinic),
        "status": a.status,
        "overbook": a.overbook,
        "note": a.note,
        "created_at": local_iso(a.created_at, clinic),
        "created_by": a.created_by.get_username() if a.created_by else None,
        "cancelled_at": local_iso(a.cancelled_at, clinic) if a.cancelled_at else None,
        "cancel_reason": a.cancel_reason,
    }


def backfill_out(candidates: services.Backfill) -> list[dict[str, Any]]:
    return [
        {
            "patient": c.patient.code,
            "source": c.source,
            "rank": c.rank,
            "reason": c.reason,
            "slot": {
                "start": local_iso(c.freed.start, c.freed.clinic),
                "end": local_iso(c.freed.end, c.freed.clinic),
                "provider": c.freed.provider.code,
                "room": c.freed.room.code,
                # Booking a freed overbooking seat needs "overbook": true as well.
                "overbook": c.overbook,
            },
        }
        for c in candidates
    ]


def _by_code(model: Any, clinic: Clinic, code: str | None, field: str) -> Any:
    return selectors.get_by_code(model, clinic, code, field) if code else None


@router.get("/appointments", response=answers({200: AppointmentListOut}), tags=["appointments"])
def list_appointments(request: HttpRequest, params: Query[ListParams]) -> dict[str, Any]:
    check_dates(date=params.date)
    caller = scope(request.user, params.clinic, need="scheduling.view_appointment")
    clinic = caller.clinic
    queryset = (
        access.appointments(caller)
        .select_related("clinic", "patient", "appointment_type", "provider", "room", "created_by")
        .order_by("start", "provider__code", "pk")
    )
    if params.date:
        queryset = queryset.filter(
            start__gte=dt.datetime.combine(params.date, dt.time(), tzinfo=clinic.tz),
            start__lt=dt.datetime.combine(params.date + dt.timedelta(days=1), dt.time(), tzinfo=clinic.tz),
        )
    if params.provider:
        queryset = queryset.filter(provider=_by_code(Provider, clinic, params.provider, "provider"))
    if params.patient:
        queryset = queryset.filter(patient=_by_code(Patient, clinic, params.patient, "patient"))
    if params.status:
        queryset = queryset.filter(status=params.status)
    total = queryset.count()
    page = queryset[params.offset : params.offset + params.limit]
    following = params.offset + params.limit
    next_url = None
    if following < total:
        query = request.GET.copy()
        query["offset"] = str(following)
        query["limit"] = str(params.limit)
        next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return {"appointments": [appointment_out(a) for a in page], "total": total, "next": next_url}


@router.post("/appointments", response=answers({201: AppointmentOut}, 409, 413), tags=["appointments"])
def create_appointment(request: HttpRequest, payload: AppointmentIn, clinic: str | None = None) -> Any:
    the_clinic = scope(request.user, clinic, need="scheduling.add_appointment").clinic

    def book() -> tuple[int, dict[str, Any]]:
        start = parse_aware(payload.start, "start")
        backfill_of = None
        if payload.backfill_of is not None:
            backfill_of = Appointment.objects.filter(clinic=the_clinic, pk=payload.backfill_of).first()
            if backfill_of is None:
                raise ValidationFailed({"backfill_of": f"No appointment with id {payload.backfill_of}."})
        named = selectors.by_codes(
            the_clinic,
            patient=(Patient, payload.patient),
            appointment_type=(AppointmentType, payload.appointment_type),
            provider=(Provider, payload.provider),
            room=(Room, payload.room),
        )
        appointment = services.appointment_book(
            clinic=the_clinic,
            patient=named["patient"],
            appointment_type=named["appointment_type"],
            provider=named["provider"],
            room=named["room"],
            start=start,
            overbook=payload.overbook,
            note=payload.note,
            actor=request.user,
            backfill_of=backfill_of,
        )
        return 201, appointment_out(appointment)  # its relations are the objects just passed in

    return idempotent(request, book, clinic=the_clinic)


@router.get(
    "/appointments/{appointment_id}", response=answers({200: AppointmentDetailOut}), tags=["appointments"]
)
def get_appointment(request: HttpRequest, appointment_id: int, clinic: str | None = None) -> dict[str, Any]:
    caller = scope(request.user, clinic, need="scheduling.view_appointment")
    the_clinic = caller.clinic
    appointment = (
        access.appointments(caller)
        .select_related("clinic", "patient", "appointment_type", "provider", "room", "created_by")
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None:
        raise NotFound(f"No appointment with id {appointment_id}.")
    body = appointment_out(appointment)
    body["history"] = [
        {
            "at": local_iso(h.at, the_clinic),
            "action": h.action,
            "actor": h.actor.get_username() if h.actor else None,
            "changes": h.changes,
        }
        for h in appointment.history.select_related("actor").order_by("at", "pk")
    ]
    # Built to the schema by appointment_out and the history above.
    return JsonResponse(body)  # type: ignore[return-value]


def _transition_endpoint(action: str) -> Any:
    def endpoint(request: HttpRequest, appointment_id: int, clinic: str | None = None) -> dict[str, Any]:
        caller = scope(request.user, clinic, need="scheduling.change_appointment")
        access.ensure_appointment(caller, appointment_id)
        appointment = services.appointment_change_status(
            appointment_id=appointment_id, action=action, actor=request.user, clinic=caller.clinic
        )
        return appointment_out(appointment)

    endpoint.__name__ = f"appointment_{action}"
    return endpoint


for _path, _action in (
    ("confirm", "confirm"),
    ("check-in", "check_in"),
    ("complete", "complete"),
    ("no-show", "no_show"),
):
    router.post(
        f"/appointments/{{appointment_id}}/{_path}",
        response=answers({200: AppointmentOut}, 409, 413),
        tags=["appointments"],
        summary=f"{_path.replace('-', ' ').capitalize()} an appointment",
    )(_transition_endpoint(_action))


@router.post(
    "/appointments/{appointment_id}/cancel",
    response=answers({200: CancelOut}, 409, 413),
    tags=["appointments"],
)
def cancel_appointment(
    request: HttpRequest, appointment_id: int, payload: CancelIn | None = None, clinic: str | None = None
) -> dict[str, Any]:
    caller = scope(request.user, clinic, need="scheduling.cancel_appointment")
    access.ensure_appointment(caller, appointment_id)
    the_clinic = caller.clinic
    appointment, candidates = services.appointment_cancel(
        appointment_id=appointment_id,
        reason=payload.reason if payload else "",
        actor=request.user,
        clinic=the_clinic,
    )
    return {
        "appointment": appointment_out(appointment),
        "backfill": backfill_out(candidates),
        "backfill_note": candidates.note or None,
    }


@router.post(
    "/appointments/{appointment_id}/reschedule",
    response=answers({200: RescheduleOut}, 409, 413),
    tags=["appointments"],
)
def reschedule_appointment(
    request: HttpRequest, appointment_id: int, payload: RescheduleIn, clinic: str | None = None
) -> dict[str, Any]:
    caller = scope(request.user, clinic, need="scheduling.add_appointment")
    access.ensure_appointment(caller, appointment_id)
    the_clinic = caller.clinic
    new, old, candidates = services.appointment_reschedule(
        appointment_id=appointment_id,
        start=parse_aware(payload.start, "start"),
        provider=_by_code(Provider, the_clinic, payload.provider, "provider"),
        room=_by_code(Room, the_clinic, payload.room, "room"),
        overbook=payload.overbook,
        actor=request.user,
        clinic=the_clinic,
    )
    return {
        "appointment": appointment_out(new),
        "previous": appointment_out(old),
        "backfill": backfill_out(candidates),
        "backfill_note": candidates.note or None,
    }


def waitlist_out(entry: WaitlistEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "patient": entry.patient.code,
        "appointment_type": entry.appointment_type.code,
        "provider": entry.provider.code if entry.provider else None,
        "earliest": entry.earliest.isoformat(),
        "latest": entry.latest.isoformat(),
        "note": entry.note,
        "status": entry.status,
        "created_at": local_iso(entry.created_at, entry.clinic),
        "closed_at": local_iso(entry.closed_at, entry.clinic) if entry.closed_at else None,
        "close_reason": entry.close_reason,
    }


@router.get("/waitlist", response=answers({200: list[WaitlistOut]}), tags=["waitlist"])
def list_waitlist(
    request: HttpRequest, appointment_type: str | None = None, clinic: str | None = None
) -> list[dict[str, Any]]:
    caller = scope(request.user, clinic, need="scheduling.view_waitlistentry")
    the_clinic = caller.clinic
    entries = (
        access.waitlist(caller)
        .open()
        .select_related("clinic", "patient", "appointment_type", "provider")
        .order_by("created_at", "pk")
    )
    if appointment_type:
        entries = entries.filter(
            appointment_type=selectors.get_by_code(
                AppointmentType, the_clinic, appointment_type, "appointment_type"
            )
        )
    return [waitlist_out(e) for e in entries[:MAX_LIST]]


@router.post("/waitlist", response=answers({201: WaitlistOut}, 413), tags=["waitlist"])
def add_to_waitlist(request: HttpRequest, payload: WaitlistIn, clinic: str | None = None) -> Any:
    check_dates(earliest=payload.earliest, latest=payload.latest)
    the_clinic = scope(request.user, clinic, need="scheduling.add_waitlistentry").clinic

    def add() -> tuple[int, dict[str, Any]]:
        entry = services.waitlist_add(
            clinic=the_clinic,
            patient=selectors.get_by_code(Patient, the_clinic, payload.patient, "patient"),
            appointment_type=selectors.get_by_code(
                AppointmentType, the_clinic, payload.appointment_type, "appointment_type"
            ),
            provider=_by_code(Provider, the_clinic, payload.provider, "provider"),
            earliest=payload.earliest,
            latest=payload.latest,
            note=payload.note,
            actor=request.user,
        )
        return 201, waitlist_out(entry)

    return idempotent(request, add, clinic=the_clinic)


@router.post(
    "/waitlist/{entry_id}/close",
    response=answers({200: WaitlistOut}, 409, 413),
    tags=["waitlist"],
    summary="Close an open waitlist entry",
)
def close_waitlist_entry(
    request: HttpRequest, entry_id: int, payload: WaitlistCloseIn | None = None, clinic: str | None = None
) -> dict[str, Any]:
    the_clinic = scope(request.user, clinic, need="scheduling.change_waitlistentry").clinic
    entry = services.waitlist_close(
        entry_id=entry_id,
        clinic=the_clinic,
        reason=payload.reason if payload else "",
        actor=request.user,
    )
    return waitlist_out(entry)


@router.get("/stats", response=answers({200: StatsOut}), tags=["stats"])
def stats(request: HttpRequest, date: dt.date, clinic: str | None = None) -> dict[str, Any]:
    check_dates(date=date)
    return jobs.stats_for_day(scope(request.user, clinic, need="scheduling.view_appointment").clinic, date)
