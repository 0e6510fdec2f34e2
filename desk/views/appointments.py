"""The appointment panel: details, history, and the moves the user's role allows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from clinic import selectors as clinic_selectors
from clinic.errors import DomainError, NotFound
from clinic.models import Clinic, Provider, Room
from clinic.roles import can_book, can_cancel, can_change_appointments
from desk.slots import slot_row
from desk.views.board import page
from desk.views.common import (
    HtmxHttpRequest,
    current_clinic,
    current_scope,
    domain_refusal,
    frame,
    local_now,
    parse_date,
    refusal,
    reply,
    staff_view,
)
from scheduling import access, overview, selectors, services
from scheduling.models import Appointment

# The buttons of the panel: action, label, the statuses it starts from (the service decides).
STATUS_ACTIONS = (
    ("confirm", "Confirm"),
    ("check_in", "Check in"),
    ("complete", "Complete"),
    ("no_show", "No-show"),
)
RESCHEDULE_DAYS = 7


def _appointment(request: HtmxHttpRequest, appointment_id: int) -> Appointment:
    """The appointment, if this user sees it (``scheduling.access``), else ``not_found``."""
    appointment = (
        access.appointments(current_scope(request))
        .filter(pk=appointment_id)
        .select_related("patient", "appointment_type", "provider", "room", "created_by", "cancelled_by")
        .first()
    )
    if appointment is None:
        raise NotFound(f"No appointment with id {appointment_id}.")
    return appointment


def _actions(request: HtmxHttpRequest, appointment: Appointment, now: dt.datetime) -> list[tuple[str, str]]:
    """The status moves this user may make from this appointment's status, now."""
    if not can_change_appointments(request.user):
        return []
    return [
        (action, label)
        for action, label in STATUS_ACTIONS
        if services.transition_refusal(appointment, action, now) is None
    ]


def _when(appointment: Appointment, clinic: Clinic) -> str:
    return f"{appointment.start.astimezone(clinic.tz):%a %-d %b %H:%M}"


def panel_context(request: HtmxHttpRequest, clinic: Clinic, appointment_id: int) -> dict[str, Any]:
    appointment = _appointment(request, appointment_id)
    now = local_now(clinic)
    cancellable = services.transition_refusal(appointment, "cancel", now) is None
    return {
        **frame(request, clinic),
        "appointment": appointment,
        "history": overview.appointment_history(appointment),
        "actions": _actions(request, appointment, now),
        # A reschedule cancels the old time, so it is open exactly when cancelling is.
        "may_cancel": can_cancel(request.user) and cancellable,
        "may_reschedule": can_book(request.user) and cancellable,
    }


def panel_reply(
    request: HtmxHttpRequest,
    clinic: Clinic,
    appointment_id: int,
    *,
    message: str = "",
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    context = {**panel_context(request, clinic, appointment_id), **(extra or {})}
    return reply(request, "desk/appointment.html#panel", context, message=message, changed=bool(message))


@staff_view()
def detail(request: HtmxHttpRequest, appointment_id: int) -> HttpResponse:
    clinic = current_clinic(request)
    try:
        context = panel_context(request, clinic, appointment_id)
    except NotFound as exc:
        return domain_refusal(request, exc)
    if request.htmx:
        return render(request, "desk/appointment.html#panel", context)
    day = context["appointment"].start.astimezone(clinic.tz).date()
    return page(request, clinic, panel="desk/appointment.html#panel", day=day, context=context)


@require_POST
@staff_view(can_change_appointments, "change appointments")
def change_status(request: HtmxHttpRequest, appointment_id: int, action: str) -> HttpResponse:
    clinic = current_clinic(request)
    try:
        access.ensure_appointment(current_scope(request), appointment_id)
        appointment = services.appointment_change_status(
            appointment_id=appointment_id, action=action, actor=request.user, clinic=clinic
        )
    except DomainError as exc:
        return domain_refusal(request, exc)
    return panel_reply(
        request,
        clinic,
        appointment.pk,
        message=f"{appointment.patient.full_name}: {appointment.get_status_display().lower()}.",
    )


@require_POST
@staff_view(can_cancel, "cancel appointments")
def cancel(request: HtmxHttpRequest, appointment_id: int) -> HttpResponse:
    """Cancel, then show who could take the freed time, each bookable with one click."""
    clinic = current_clinic(request)
    reason = request.POST.get("reason", "").strip()[:200]
    try:
        access.ensure_appointment(current_scope(request), appointment_id)
        appointment, candidates = services.appointment_cancel(
            appointment_id=appointment_id, reason=reason, actor=request.user, clinic=clinic
        )
    except DomainError as exc:
        return domain_refusal(request, exc)
    return panel_reply(
        request,
        clinic,
        appointment.pk,
        message=f"Cancelled {appointment.patient.full_name}, {_when(appointment, clinic)}.",
        extra={"candidates": candidates, "freed": appointment},
    )


@staff_view(can_book, "reschedule appointments")
def reschedule(request: HtmxHttpRequest, appointment_id: int) -> HttpResponse:
    """GET: the ranked times to move to; POST: move there (atomically: nothing changes if
    the new time cannot be booked)."""
    clinic = current_clinic(request)
    try:
        appointment = _appointment(request, appointment_id)
    except NotFound as exc:
        return domain_refusal(request, exc)
    if request.method == "POST":
        return _move(request, clinic, appointment)
    context = {**frame(request, clinic), **_reschedule_context(clinic, appointment, request.GET)}
    if request.htmx and request.htmx.target == "slots":
        return render(request, "desk/reschedule.html#slots", context)
    if request.htmx:
        return render(request, "desk/reschedule.html#panel", context)
    day = appointment.start.astimezone(clinic.tz).date()
    return page(request, clinic, panel="desk/reschedule.html#panel", day=day, context=context)


def _reschedule_context(clinic: Clinic, appointment: Appointment, params: Any) -> dict[str, Any]:
    today = local_now(clinic).date()
    date_from = parse_date(params.get("date_from")) or max(
        today, appointment.start.astimezone(clinic.tz).date()
    )
    date_to = date_from + dt.timedelta(days=RESCHEDULE_DAYS - 1)
    provider = params.get("provider", "")
    _, providers, rooms = clinic_selectors.booking_choices(clinic.pk)
    result = selectors.search_slots(
        clinic=clinic,
        appointment_type_code=appointment.appointment_type.code,
        date_from=date_from,
        date_to=date_to,
        now=local_now(clinic),
        provider_code=provider or None,
        patient_code=appointment.patient.code,
        limit=20,
    )
    names = dict(providers) | {f"room:{c}": n for c, n in rooms}
    return {
        "appointment": appointment,
        "rows": [slot_row(slot, clinic, names) for slot in result.slots],
        "total": result.total,
        "date_from": date_from,
        "date_to": date_to,
        "providers": providers,
        "provider": provider,
    }


def _move(request: HtmxHttpRequest, clinic: Clinic, appointment: Appointment) -> HttpResponse:
    try:
        provider_code, room_code, start_text, overbook = request.POST.get("slot", "").split("|")
        start = dt.datetime.fromisoformat(start_text)
    except ValueError:
        return refusal(request, "Choose a time from the list.", status=422)
    if start.tzinfo is None or parse_date(start.date().isoformat()) is None:
        return refusal(request, "Choose a time from the list.", status=422)
    try:
        new, old, candidates = services.appointment_reschedule(
            appointment_id=appointment.pk,
            start=start,
            provider=selectors.get_by_code(Provider, clinic, provider_code, "provider"),
            room=selectors.get_by_code(Room, clinic, room_code, "room"),
            overbook=overbook == "1",
            actor=request.user,
            clinic=clinic,
        )
    except DomainError as exc:
        context = {**frame(request, clinic), **_reschedule_context(clinic, appointment, request.POST)}
        context["refusal"] = f"Not moved: {exc.message} The list below is up to date."
        return reply(request, "desk/reschedule.html#slots", context, code=exc.status)
    local = new.start.astimezone(clinic.tz)
    response = panel_reply(
        request,
        clinic,
        new.pk,
        message=f"Moved {new.patient.full_name} to {local:%a %-d %b %H:%M} with {new.provider.name}.",
        extra={"candidates": candidates, "freed": old},
    )
    response["HX-Retarget"] = "#panel"
    response["HX-Reswap"] = "innerHTML"
    return response
