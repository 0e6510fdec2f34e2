"""Write flows for the clinic's own records."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from clinic.errors import NotFound, ValidationFailed
from clinic.models import WEEKDAY_KEYS, ApiToken, Clinic, Patient, Provider
from clinic.transactions import service_transaction

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# What may stand between the digits of a phone number as people write it.
PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")
E164 = re.compile(r"\+[1-9][0-9]{5,14}")
CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


@service_transaction  # the API's Idempotency-Key stores its answer in this transaction
def patient_create(
    *,
    clinic: Clinic,
    code: str,
    first_name: str,
    last_name: str,
    birth_date: dt.date | None = None,
    phone: str = "",
    email: str = "",
    preferred_providers: Sequence[str] = (),
    preferred_days: Sequence[str] = (),
    preferred_times: Sequence[Sequence[str]] = (),
) -> Patient:
    """A new patient; every problem is a `validation_error` naming its field, an unknown
    preferred provider a `not_found`."""
    problems: dict[str, str] = {}
    phone = _phone(phone, problems)
    email = _email(email, problems)
    if birth_date and birth_date > timezone.localdate(timezone=clinic.tz):
        problems["birth_date"] = "A birth date cannot be in the future."
    if Patient.objects.filter(clinic=clinic, code=code).exists():
        problems["code"] = f"A patient with code {code!r} already exists."
    wanted = _preferences(clinic, preferred_providers, preferred_days, preferred_times, problems)
    if problems:
        raise ValidationFailed(problems)
    try:
        with transaction.atomic():
            patient = Patient.objects.create(
                clinic=clinic,
                code=code,
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                birth_date=birth_date,
                phone=phone,
                email=email,
                preferred_days=wanted.days,
                preferred_times=wanted.times,
            )
    except IntegrityError as exc:  # created by someone else a moment ago
        raise ValidationFailed({"code": f"A patient with code {code!r} already exists."}) from exc
    patient.preferred_providers.set(wanted.providers)
    return patient


@transaction.atomic(durable=True)
def patient_update(
    *,
    patient: Patient,
    phone: str | None = None,
    email: str | None = None,
    preferred_providers: Sequence[str] | None = None,
    preferred_days: Sequence[str] | None = None,
    preferred_times: Sequence[Sequence[str]] | None = None,
) -> Patient:
    """Change a patient's contact fields and preferences; ``None`` leaves a field as it is,
    a given list replaces the one stored. All or nothing: every problem is a
    `validation_error` naming its field, an unknown preferred provider a `not_found`."""
    locked = Patient.objects.select_for_update().select_related("clinic").get(pk=patient.pk)
    clinic = locked.clinic
    problems: dict[str, str] = {}
    changed = []
    if phone is not None:
        locked.phone = _phone(phone, problems)
        changed.append("phone")
    if email is not None:
        locked.email = _email(email, problems)
        changed.append("email")
    wanted = _preferences(
        clinic, preferred_providers or (), preferred_days or (), preferred_times or (), problems
    )
    if problems:
        raise ValidationFailed(problems)
    if preferred_days is not None:
        locked.preferred_days = wanted.days
        changed.append("preferred_days")
    if preferred_times is not None:
        locked.preferred_times = wanted.times
        changed.append("preferred_times")
    if changed:
        locked.save(update_fields=changed)
    if preferred_providers is not None:
        locked.preferred_providers.set(wanted.providers)
    return locked


@dataclass(frozen=True)
class _Preferences:
    providers: list[Provider]
    days: list[str]
    times: list[list[str]]


def _phone(phone: str, problems: dict[str, str]) -> str:
    """The number in E.164 (``+49305550000``); it must carry its country code (``+`` or
    ``00``), since the clinic's own country is not known here."""
    compact = PHONE_PUNCTUATION.sub("", phone)
    if not compact:
        return ""
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not E164.fullmatch(compact):
        problems["phone"] = (
            "Not a phone number with its country code: write it as +49 30 5550000 or 0049 30 5550000."
        )
    return compact


def _email(email: str, problems: dict[str, str]) -> str:
    email = email.strip()
    if email and not EMAIL.fullmatch(email):
        problems["email"] = "Not an email address."
    return email


def _preferences(
    clinic: Clinic,
    providers: Sequence[str],
    days: Sequence[str],
    times: Sequence[Sequence[str]],
    problems: dict[str, str],
) -> _Preferences:
    """Preferences as the API and the clinic file write them (provider codes, weekday keys
    ``mon`` .. ``sun``, local ``["HH:MM", "HH:MM"]`` ranges), checked: providers resolved,
    days in week order, time ranges sorted, each once."""
    codes = list(dict.fromkeys(providers))
    found = list(Provider.objects.filter(clinic=clinic, code__in=codes))
    missing = sorted(set(codes) - {p.code for p in found})
    if missing:
        raise NotFound(f"No provider with code {missing[0]!r}.", field="preferences.providers", codes=missing)
    unknown = [day for day in days if day not in WEEKDAY_KEYS]
    if unknown:
        problems["preferences.days"] = f"{unknown[0]!r} is not a weekday key (mon .. sun)."
    ranges = set()
    for index, pair in enumerate(times):
        start, end = pair if len(pair) == 2 else ("", "")
        if not (CLOCK.fullmatch(start) and CLOCK.fullmatch(end) and start < end):
            problems[f"preferences.times.{index}"] = 'A time range is ["HH:MM", "HH:MM"], the start first.'
        ranges.add((start, end))
    return _Preferences(
        providers=found,
        days=[day for day in WEEKDAY_KEYS if day in days],
        times=[[start, end] for start, end in sorted(ranges)],
    )


def revoke_tokens(tokens: QuerySet[ApiToken]) -> int:
    """Revoke every token in ``tokens`` not revoked yet; how many were. They stop working at
    once: authentication reads ``revoked_at`` on every request."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
