"""Reads of the clinic's own records, shared by the API and the staff UI."""

from __future__ import annotations

import re

from django.db.models import F, Func, Q, QuerySet, Value

from clinic.models import AppointmentType, Patient, Provider, Room

SEARCH_LIMIT = 50


# A query that is only a phone number as people write it: digits, spaces, + ( ) . - /
PHONE_QUERY = re.compile(r"\+?[\d\s().\-/]+")


def patient_search(clinic_id: int, q: str, limit: int = SEARCH_LIMIT) -> QuerySet[Patient]:
    """Patients whose name, code or phone matches every word of ``q``, by name.

    Phones are compared as digits only. A query that is a whole phone number in any
    formatting ("+49 30 5550000", "0049 30 555-0000", "030 5550000") is also matched as one
    number: with its international ``00`` or national trunk ``0`` dropped, its digits must
    appear in the stored E.164 number's.
    """
    patients = Patient.objects.filter(clinic_id=clinic_id).annotate(
        phone_digits=Func(F("phone"), Value(r"\D"), Value(""), Value("g"), function="regexp_replace")
    )
    every_word = Q()
    for word in q.split():
        match = Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(code__icontains=word)
        digits = re.sub(r"\D", "", word)
        if len(digits) >= 3:
            match |= Q(phone_digits__contains=digits)
        every_word &= match
    if PHONE_QUERY.fullmatch(q.strip()):
        number = re.sub(r"\D", "", q)
        number = number[2:] if number.startswith("00") else number.lstrip("0")
        if len(number) >= 3:
            every_word |= Q(phone_digits__contains=number)
    return patients.filter(every_word).order_by("last_name", "first_name", "code")[:limit]


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
