"""The patient page: contact, preferences, appointments to come and past, their history."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit import services as audit
from audit.models import AuditAction, AuditDoor
from clinic.errors import NotFound
from desk.views.common import HtmxHttpRequest, current_clinic, current_scope, frame, refusal, staff_view
from scheduling import overview


@staff_view()
def patient(request: HtmxHttpRequest, code: str) -> HttpResponse:
    clinic = current_clinic(request)
    try:
        record = overview.patient_record(current_scope(request), code, now=timezone.now())
    except NotFound as exc:
        return refusal(request, exc.message, status=404)
    audit.record(
        user=request.user,
        action=AuditAction.VIEW,
        door=AuditDoor.DESK,
        clinic=clinic,
        patients=[record.patient],
    )
    context = {**frame(request, clinic), "record": record, "p": record.patient}
    if request.htmx:
        return render(request, "desk/patient.html#record", context)
    return render(request, "desk/patient.html", context)
