"""Write flows for the clinic's own records."""

from __future__ import annotations

import datetime as dt
import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.errors import ValidationFailed
from clinic.models import Clinic, Patient

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@transaction.atomic(durable=True)
def patient_create(
    *,
    clinic: Clinic,
    code: str,
    first_name: str,
    last_name: str,
    birth_date: dt.date | None = None,
    phone: str = "",
    email: str = "",
) -> Patient:
    """A new patient; every problem is a `validation_error` naming its field."""
    problems = {}
    if email and not EMAIL.fullmatch(email):
        problems["email"] = "Not an email address."
    if birth_date and birth_date > timezone.localdate(timezone=clinic.tz):
        problems["birth_date"] = "A birth date cannot be in the future."
    if Patient.objects.filter(clinic=clinic, code=code).exists():
        problems["code"] = f"A patient with code {code!r} already exists."
    if problems:
        raise ValidationFailed(problems)
    try:
        with transaction.atomic():
            return Patient.objects.create(
                clinic=clinic,
                code=code,
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                birth_date=birth_date,
                phone=phone.strip(),
                email=email.strip(),
            )
    except IntegrityError as exc:  # created by someone else a moment ago
        raise ValidationFailed({"code": f"A patient with code {code!r} already exists."}) from exc
