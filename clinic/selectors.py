"""Reads of the clinic's own records, shared by the API and the staff UI."""

from __future__ import annotations

import re

from django.db.models import F, Func, Q, QuerySet, Value

from clinic.models import AppointmentType, Patient, Provider, Room

SEARCH_LIMIT = 50


def patient_search(clinic_id: int, q: str, limit: int = SEARCH_LIMIT) -> QuerySet[Patient]:
    """Patients whose name, code or phone matches every word of ``q``, by name.

    Phones are compared as digits only, so "030 555", "+49 30 555" and "30555" all find
    the same number.
    """
    patients = Patient.objects.filter(clinic_id=clinic_id).annotate(
        phone_digits=Func(F("phone"), Value(r"\D"), Value(""), Value("g"), function="regexp_replace")
    )
    for word in q.split():
        match = Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(code__icontains=word)
        digits = re.sub(r"\D", "", word)
        if len(digits) >= 3:
            match |= Q(phone_digits__contains=digits)
        patients = patients.filter(match)
    return patients.order_by("last_name", "first_name", "code")[:limit]


def booking_choices(
    clinic_id: int,
) -> tuple[list[tuple[str, str, int]], list[tuple[str, str]], list[tuple[str, str]]]:
    """The clinic's appointment types ``(code, name, minutes)``, providers and rooms
    ``(code, name)``, each sorted by name, for the pickers of the staff UI."""
    types = list(
        AppointmentType.objects.filter(clinic_id=clinic_id)
        .order_by("name", "code")
        .values_list("code", "name", "duration_minutes")
    )
    providers = list(
        Provider.objects.filter(clinic_id=clinic_id).order_by("name", "code").values_list("code", "name")
    )
    rooms = list(
        Room.objects.filter(clinic_id=clinic_id).order_by("name", "code").values_list("code", "name")
    )
    return types, providers, rooms
