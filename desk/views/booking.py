"""Find and book: patient, type, range, the engine's ranked slots, one click to book."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, cast

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from clinic import selectors as clinic_selectors
from clinic import services as clinic_services
from clinic.errors import DomainError, NotFound, SlotTaken, ValidationFailed
from clinic.models import AppointmentType, Clinic, Patient, Provider, Room
from clinic.roles import can_add_patients, can_book
from desk.slots import slot_row
from desk.views.board import page
from desk.views.common import (
    FIRST_DATE,
    LAST_DATE,
    HtmxHttpRequest,
    current_clinic,
    domain_refusal,
    frame,
    local_now,
    parse_date,
    reply,
    staff_view,
    typed_patient_search,
)
from scheduling import selectors, services
from scheduling.api import MAX_SEARCH_DAYS
from scheduling.models import Appointment

DEFAULT_DAYS = 7
PAGE = 20


class FindForm(forms.Form):
    """What the front desk searches by; every field optional but the type."""

    patient = forms.CharField(required=False, max_length=64)
    appointment_type = forms.ChoiceField(required=False, label="Appointment type")
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")
    provider = forms.ChoiceField(required=False)
    at = forms.TimeField(required=False, widget=forms.HiddenInput)
    limit = forms.IntegerField(required=False, min_value=1, max_value=500, widget=forms.HiddenInput)

    def __init__(self, *args: Any, types: list[Any], providers: list[Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["appointment_type"]).choices = [("", "Choose a type")] + [
            (code, f"{name} ({minutes} min)") for code, name, minutes in types
        ]
        cast(forms.ChoiceField, self.fields["provider"]).choices = [("", "Any provider")] + list(providers)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        for name, day in (("date_from", start), ("date_to", end)):
            if day and not FIRST_DATE <= day <= LAST_DATE:
                self.add_error(name, "Choose a date between the years 1900 and 2999.")
                start = end = None
        if start and end:
            if end < start:
                self.add_error("date_to", "The end of the range is before its start.")
            elif (end - start).days > MAX_SEARCH_DAYS:
                self.add_error("date_to", f"Search at most {MAX_SEARCH_DAYS} days at once.")
        return data


def _find_context(request: HtmxHttpRequest, clinic: Clinic, params: Any) -> dict[str, Any]:
    """Run the search the form describes; the context of the panel and its slot list."""
    types, providers, rooms = clinic_selectors.booking_choices(clinic.pk)
    today = local_now(clinic).date()
    data = params.copy()
    if not data.get("date_from"):
        # Opened from the board: search from the day on screen, unless it has passed.
        board_day = parse_date(data.get("date"))
        data["date_from"] = max(board_day or today, today).isoformat()
    if not data.get("date_to"):
        first = parse_date(data["date_from"]) or today
        data["date_to"] = (first + dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    form = FindForm(data, types=types, providers=providers)
    context: dict[str, Any] = {"form": form, "patient": None, "rows": None, "exact": None}
    if not form.is_valid():
        return context
    code = form.cleaned_data["patient"]
    if code:
        context["patient"] = Patient.objects.filter(clinic=clinic, code=code).first()
        if context["patient"] is None:
            form.add_error("patient", f"No patient with code {code!r}.")
            return context
    type_code = form.cleaned_data["appointment_type"]
    if not type_code:
        return context
    at = form.cleaned_data["at"]
    limit = form.cleaned_data["limit"] or PAGE
    result = selectors.search_slots(
        clinic=clinic,
        appointment_type_code=type_code,
        date_from=form.cleaned_data["date_from"],
        date_to=form.cleaned_data["date_to"],
        now=local_now(clinic),
        provider_code=form.cleaned_data["provider"] or None,
        patient_code=code or None,
        limit=None if at else limit,
    )
    names = dict(providers) | {f"room:{c}": n for c, n in rooms}
    rows = [slot_row(slot, clinic, names) for slot in result.slots]
    if at:
        # The time clicked on the board first, then the rest of that day, each in the
        # engine's order.
        exact = [r for r in rows if r.slot.start.astimezone(clinic.tz).time() == at]
        context["exact"] = exact
        rows = [r for r in rows if r not in exact][:limit]
    context.update(
        rows=rows, total=result.total, more=result.total > limit and not at, next_limit=limit + PAGE
    )
    context["type_name"] = next((name for c, name, _ in types if c == type_code), type_code)
    return context


@staff_view()
def find(request: HtmxHttpRequest) -> HttpResponse:
    """The find-and-book panel; its slot list alone when the form asks for it."""
    clinic = current_clinic(request)
    context = {**frame(request, clinic), **_find_context(request, clinic, request.GET)}
    if request.htmx and request.htmx.target == "slots":
        return render(request, "desk/book.html#slots", context)
    if request.htmx and request.htmx.target == "patient-pick":
        return render(request, "desk/book.html#patient_chosen", context)
    if request.htmx:
        return render(request, "desk/book.html#panel", context)
    day = (
        context["form"].cleaned_data.get("date_from")
        if context["form"].is_bound and context["form"].is_valid()
        else None
    )
    return page(request, clinic, panel="desk/book.html#panel", day=day, context=context)


@require_POST
@staff_view(can_book, "book appointments")
def book(request: HtmxHttpRequest) -> HttpResponse:
    """Book the slot a row offered. If someone took it a moment ago, say so with the
    engine's reason and show the list as it is now; the form keeps what was typed."""
    clinic = current_clinic(request)
    try:
        appointment = _book(request, clinic)
    except DomainError as exc:
        if request.POST.get("backfill_of"):  # from the backfill list: its candidates stay as they are
            return domain_refusal(request, exc)
        context = {**frame(request, clinic), **_find_context(request, clinic, request.POST)}
        context["refusal"] = _refusal_text(exc)
        return reply(
            request, "desk/book.html#slots", context, code=exc.status, changed=isinstance(exc, SlotTaken)
        )
    from desk.views.appointments import panel_reply  # the appointment panel answers a booking

    local = appointment.start.astimezone(clinic.tz)
    message = (
        f"Booked {appointment.patient.full_name}, {appointment.appointment_type.name}, "
        f"{local:%a %-d %b %H:%M} with {appointment.provider.name} in {appointment.room.name}."
    )
    response = panel_reply(request, clinic, appointment.pk, message=message)
    response["HX-Retarget"] = "#panel"
    response["HX-Reswap"] = "innerHTML"
    return response


def _refusal_text(exc: DomainError) -> str:
    if isinstance(exc, SlotTaken):
        return f"Just taken: {exc.message} The list below is up to date."
    if isinstance(exc, ValidationFailed):
        return " ".join(exc.details.get("fields", {}).values()) or exc.message
    return exc.message


def _book(request: HtmxHttpRequest, clinic: Clinic) -> Appointment:
    post = request.POST
    patient_code = post.get("patient", "").strip()
    if not patient_code:
        raise ValidationFailed({"patient": "Choose the patient first: search by name, code or phone."})
    try:
        provider_code, room_code, start_text, overbook = post.get("slot", "").split("|")
        start = dt.datetime.fromisoformat(start_text)
    except ValueError as exc:
        raise ValidationFailed({"slot": "Choose a time from the list."}) from exc
    if start.tzinfo is None or parse_date(start.date().isoformat()) is None:
        raise ValidationFailed({"slot": "Choose a time from the list."})
    backfill_of = None
    if post.get("backfill_of"):
        backfill_of = Appointment.objects.filter(clinic=clinic, pk=_int(post["backfill_of"])).first()
        if backfill_of is None:
            raise NotFound("The cancelled appointment to refill no longer exists.")
    named = selectors.by_codes(
        clinic,
        patient=(Patient, patient_code),
        appointment_type=(AppointmentType, post.get("appointment_type", "")),
        provider=(Provider, provider_code),
        room=(Room, room_code),
    )
    return services.appointment_book(
        clinic=clinic,
        patient=named["patient"],
        appointment_type=named["appointment_type"],
        provider=named["provider"],
        room=named["room"],
        start=start,
        overbook=overbook == "1",
        actor=request.user,
        backfill_of=backfill_of,
    )


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


@staff_view()
def patient_search(request: HtmxHttpRequest) -> HttpResponse:
    """Patients as you type: by name, code or phone, after two characters."""
    q, patients = typed_patient_search(request)
    return render(request, "desk/book.html#patient_results", {"q": q, "patients": patients})


class NewPatientForm(forms.Form):
    first_name = forms.CharField(max_length=100, label="First name")
    last_name = forms.CharField(max_length=100, label="Last name")
    birth_date = forms.DateField(
        required=False, label="Birth date", widget=forms.DateInput(attrs={"type": "date"})
    )
    phone = forms.CharField(required=False, max_length=40)


@require_POST
@staff_view(can_add_patients, "add patients")
def patient_new(request: HtmxHttpRequest) -> HttpResponse:
    """Quick-create a patient from the find panel; the panel then has them chosen."""
    clinic = current_clinic(request)
    form = NewPatientForm(request.POST, prefix="new")
    if form.is_valid():
        try:
            patient = clinic_services.patient_create(
                clinic=clinic, code=f"p-{secrets.token_hex(4)}", **form.cleaned_data
            )
        except ValidationFailed as exc:
            for field, problem in exc.details.get("fields", {}).items():
                form.add_error(field if field in form.fields else None, problem)
        else:
            params = request.POST.copy()
            params["patient"] = patient.code
            context = {**frame(request, clinic), **_find_context(request, clinic, params)}
            response = reply(
                request,
                "desk/book.html#patient_chosen",
                context,
                message=f"Added patient {patient.full_name} ({patient.code}).",
            )
            response["HX-Retarget"] = "#patient-pick"
            response["HX-Reswap"] = "outerHTML"
            return response
    return render(request, "desk/book.html#new_patient", {"new_form": form, "open": True}, status=422)


@require_POST
@staff_view(can_book, "manage the waitlist")
def waitlist_from_search(request: HtmxHttpRequest) -> HttpResponse:
    """Nothing suits: put the patient on the waitlist for this type and range."""
    clinic = current_clinic(request)
    post = request.POST
    try:
        named = selectors.by_codes(
            clinic,
            patient=(Patient, post.get("patient", "") or "-"),
            appointment_type=(AppointmentType, post.get("appointment_type", "") or "-"),
        )
        provider = (
            selectors.get_by_code(Provider, clinic, post["provider"], "provider")
            if post.get("provider")
            else None
        )
        earliest, latest = parse_date(post.get("date_from")), parse_date(post.get("date_to"))
        if earliest is None or latest is None:
            raise ValueError("no date range")
        entry = services.waitlist_add(
            clinic=clinic,
            patient=named["patient"],
            appointment_type=named["appointment_type"],
            provider=provider,
            earliest=earliest,
            latest=latest,
        )
    except ValueError:
        return _waitlist_refused(request, "Choose a valid date range first.")
    except DomainError as exc:
        return _waitlist_refused(
            request, "Choose the patient and the type first." if isinstance(exc, NotFound) else exc.message
        )
    return reply(
        request,
        "desk/book.html#waitlisted",
        {"entry": entry},
        message=f"{entry.patient.full_name} is on the waitlist for {entry.appointment_type.name}, "
        f"{entry.earliest:%-d %b} to {entry.latest:%-d %b}.",
    )


def _waitlist_refused(request: HtmxHttpRequest, message: str) -> HttpResponse:
    return render(request, "desk/book.html#waitlisted", {"refusal": message}, status=422)
