"""The waitlist page: who waits for what, the offers they got, add and remove entries.

One view serves the page, its fragments and its two forms (add, remove), so the page keeps
its one URL; ``request.htmx.target`` says which fragment a request wants.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods

from clinic import selectors as clinic_selectors
from clinic.errors import DomainError, NotFound, ValidationFailed
from clinic.models import AppointmentType, Clinic, Patient, Provider
from clinic.roles import can_book
from desk.views.common import (
    HtmxHttpRequest,
    current_clinic,
    domain_refusal,
    frame,
    local_now,
    refusal,
    reply,
    staff_view,
    typed_patient_search,
)
from scheduling import overview, selectors, services

DEFAULT_DAYS = 14
MANAGE = "manage the waitlist"


class WaitlistForm(forms.Form):
    patient = forms.CharField(
        max_length=64, error_messages={"required": "Choose the patient: search by name, code or phone."}
    )
    appointment_type = forms.ChoiceField(
        label="Appointment type", error_messages={"required": "Choose the appointment type."}
    )
    provider = forms.ChoiceField(required=False, label="Provider")
    earliest = forms.DateField(label="Earliest", error_messages={"required": "Give the earliest date."})
    latest = forms.DateField(label="Latest", error_messages={"required": "Give the latest date."})
    note = forms.CharField(required=False, max_length=500, label="Note")

    def __init__(self, *args: Any, clinic: Clinic, today: dt.date, **kwargs: Any):
        super().__init__(*args, **kwargs)
        types, providers, _ = clinic_selectors.booking_choices(clinic.pk)
        cast(forms.ChoiceField, self.fields["appointment_type"]).choices = [("", "Choose a type")] + [
            (code, f"{name} ({minutes} min)") for code, name, minutes in types
        ]
        cast(forms.ChoiceField, self.fields["provider"]).choices = [("", "Any provider")] + list(providers)
        self.today = today

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        earliest, latest = data.get("earliest"), data.get("latest")
        if earliest and latest and latest < earliest:
            self.add_error("latest", "The latest date is before the earliest.")
        elif latest and latest < self.today:
            self.add_error("latest", "This range has already passed.")
        return data


def _form(request: HtmxHttpRequest, clinic: Clinic, data: QueryDict | None = None) -> WaitlistForm:
    """Bound to ``data`` (a submitted form); otherwise filled with what the page passed
    along (a patient chosen, with what was typed so far) or the defaults."""
    today = local_now(clinic).date()
    if data is not None:
        return WaitlistForm(data, clinic=clinic, today=today)
    initial: dict[str, Any] = {"earliest": today, "latest": today + dt.timedelta(days=DEFAULT_DAYS - 1)}
    initial.update({name: value for name, value in request.GET.items() if name in WaitlistForm.base_fields})
    return WaitlistForm(initial=initial, clinic=clinic, today=today)


def _chosen(clinic: Clinic, code: str) -> Patient | None:
    if not code:
        return None
    try:
        return selectors.get_by_code(Patient, clinic, code, "patient")
    except NotFound:
        return None


def _page_context(request: HtmxHttpRequest, clinic: Clinic, **extra: Any) -> dict[str, Any]:
    return {**frame(request, clinic), "nav": "waitlist", "rows": overview.open_waitlist(clinic), **extra}


def _add_context(
    request: HtmxHttpRequest, clinic: Clinic, form: WaitlistForm, **extra: Any
) -> dict[str, Any]:
    code = form["patient"].value() or ""
    return {**frame(request, clinic), "form": form, "patient": _chosen(clinic, code), **extra}


@require_http_methods(["GET", "POST"])
@staff_view()
def waitlist(request: HtmxHttpRequest) -> HttpResponse:
    clinic = current_clinic(request)
    if request.method == "POST":
        if not can_book(request.user):
            return refusal(request, f"Your role may not {MANAGE}.", status=403)
        if request.POST.get("action") == "remove":
            return _remove(request, clinic)
        return _add(request, clinic)
    target = request.htmx.target if request.htmx else None
    if target == "patient-results":
        q, patients = typed_patient_search(request)
        return render(request, "desk/waitlist.html#patient_results", {"q": q, "patients": patients})
    if target == "waitlist-add":  # a patient chosen or changed: the form again, nothing typed lost
        if not can_book(request.user):
            return refusal(request, f"Your role may not {MANAGE}.", status=403)
        context = _add_context(request, clinic, _form(request, clinic), focus=True)
        return render(request, "desk/waitlist.html#add_form", context)
    if target == "waitlist-entries":
        return render(request, "desk/waitlist.html#entries", _page_context(request, clinic))
    context = _page_context(request, clinic)
    if can_book(request.user):
        context.update(_add_context(request, clinic, _form(request, clinic)))
    return render(request, "desk/waitlist.html", context)


def _add(request: HtmxHttpRequest, clinic: Clinic) -> HttpResponse:
    form = _form(request, clinic, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            wanted: dict[str, Any] = {
                "patient": (Patient, data["patient"]),
                "appointment_type": (AppointmentType, data["appointment_type"]),
            }
            if data["provider"]:
                wanted["provider"] = (Provider, data["provider"])
            named = selectors.by_codes(clinic, **wanted)
            entry = services.waitlist_add(
                clinic=clinic,
                patient=named["patient"],
                appointment_type=named["appointment_type"],
                provider=named.get("provider"),
                earliest=data["earliest"],
                latest=data["latest"],
                note=data["note"],
                actor=request.user,
            )
        except ValidationFailed as exc:
            for name, problem in exc.details.get("fields", {}).items():
                form.add_error(name if name in form.fields else None, problem)
        except DomainError as exc:  # a patient, type or provider removed meanwhile
            name = exc.details.get("field")
            form.add_error(name if name in form.fields else None, exc.message)
        else:
            message = (
                f"{entry.patient.full_name} is on the waitlist for {entry.appointment_type.name}, "
                f"{entry.earliest:%-d %b} to {entry.latest:%-d %b}."
            )
            # A fresh form for the next patient; the list, with the new entry, out of band.
            context = {
                **frame(request, clinic),
                "form": _form(request, clinic),
                "added": message,
                "focus": True,
            }
            response = reply(request, "desk/waitlist.html#add_form", context, message=message)
            response.write(_entries_oob(request, clinic))
            return response
    context = _add_context(request, clinic, form)
    return render(request, "desk/waitlist.html#add_form", context, status=422)


def _entries_oob(request: HtmxHttpRequest, clinic: Clinic) -> str:
    return render_to_string(
        "desk/waitlist.html#entries", {**_page_context(request, clinic), "oob": True}, request=request
    )


def _remove(request: HtmxHttpRequest, clinic: Clinic) -> HttpResponse:
    try:
        entry_id = int(request.POST.get("entry", ""))
    except ValueError:
        return refusal(request, "Choose an entry to remove.", status=400)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        return _entries_with_error(request, clinic, entry_id, reason, "Say why the entry is removed.")
    try:
        entry = services.waitlist_close(entry_id=entry_id, clinic=clinic, reason=reason, actor=request.user)
    except ValidationFailed as exc:
        problem = " ".join(exc.details.get("fields", {}).values()) or exc.message
        return _entries_with_error(request, clinic, entry_id, reason, problem)
    except DomainError as exc:
        return domain_refusal(request, exc)
    return reply(
        request,
        "desk/waitlist.html#entries",
        _page_context(request, clinic, focus_list=True),
        message=f"Removed {entry.patient.full_name} ({entry.appointment_type.name}) from the waitlist.",
    )


def _entries_with_error(
    request: HtmxHttpRequest, clinic: Clinic, entry_id: int, reason: str, problem: str
) -> HttpResponse:
    context = _page_context(
        request, clinic, remove_entry=entry_id, remove_reason=reason, remove_error=problem
    )
    return render(request, "desk/waitlist.html#entries", context, status=422)
