"""Who may see what, for every door (the JSON API, the staff pages, FHIR, feeds).

A caller works for the clinics they are a member of (``Membership``; a superuser for
all). In a deployment with exactly one clinic, a staff user who is a member of none works
for that one: a small practice needs no membership admin, and the day a second clinic is
added such users see nothing until they are given one. A caller who cannot book (a
clinician) sees and acts on the appointments of the provider they are linked to only.

Another clinic's objects are answered like objects that do not exist (``404``), never
with their data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from clinic.errors import Forbidden, NotFound, ValidationFailed
from clinic.models import Clinic, Patient
from clinic.roles import can_book, has_permission
from clinic.rows import instance_from_json


@dataclass(frozen=True)
class Scope:
    """A caller at one clinic, and how far they see into its appointments."""

    user: Any
    clinic: Clinic
    # Set: only this provider's appointments (a clinician's own); None with
    # ``own_provider_only``: none at all (a clinician linked to no provider).
    provider_id: int | None
    own_provider_only: bool

    def sees_provider(self, provider_id: int) -> bool:
        return not self.own_provider_only or provider_id == self.provider_id


def scope(user: Any, code: str | None, need: str | None = None) -> Scope:
    """The caller's clinic (``code``, or their only one) with what they may see there;
    ``need`` is the permission the request needs (``"app.codename"``), else ``403``."""
    if need is not None and not has_permission(user, need):
        raise Forbidden(f"Your role may not {_WHAT.get(need, 'do this')}.")
    rows = _clinic_rows(user, code or None)
    deployment_clinics = rows[0][3] if rows else 0
    has_memberships = bool(rows) and rows[0][4]
    mine = [
        (instance_from_json(Clinic, clinic_row), provider_id)
        for clinic_row, provider_id, member, _, _ in rows
        if member or user.is_superuser or (not has_memberships and deployment_clinics == 1)
    ]
    if code and not mine:
        raise NotFound(f"No clinic with code {code!r}.", field="clinic")
    if not mine:
        if deployment_clinics == 0:
            raise NotFound("No clinic is set up yet: load one with `manage.py load_clinic`.")
        raise NotFound("You are not a member of any clinic: ask the clinic's admin to add you.")
    if len(mine) > 1:
        raise ValidationFailed({"clinic": "You work for several clinics: choose one with ?clinic=CODE."})
    clinic, provider_id = mine[0]
    own_only = not can_book(user) and not user.is_superuser
    return Scope(user=user, clinic=clinic, provider_id=provider_id, own_provider_only=own_only)


def member_clinics(user: Any) -> list[Clinic]:
    """Every clinic the caller works for, by name (for a chooser)."""
    rows = _clinic_rows(user, None)
    if not rows:
        return []
    implicit = not rows[0][4] and rows[0][3] == 1
    clinics = [
        instance_from_json(Clinic, row)
        for row, _, member, _, _ in rows
        if member or user.is_superuser or implicit
    ]
    return sorted(clinics, key=lambda c: (c.name, c.code))


def _clinic_rows(user: Any, code: str | None) -> list[tuple[Any, ...]]:
    """CLINICS_SQL's rows for the caller: the ones read with their API token when there are
    (``remember_clinics``), else read now."""
    remembered = getattr(user, _REMEMBERED_CLINICS, None)
    if remembered is not None:
        return [row for row in remembered if code is None or row[0]["code"] == code]
    with connection.cursor() as cursor:
        cursor.execute(CLINICS_SQL, {"user": user.pk, "code": code})
        return cursor.fetchall()


_REMEMBERED_CLINICS = "_clinic_rows"


def remember_clinics(user: Any, rows: list[tuple[Any, ...]]) -> None:
    """Keep CLINICS_SQL's rows for every clinic, read in the same statement as the caller's
    API token (``clinic.api.TOKEN_SQL``), on the user object for this request: every API
    request asks ``scope`` once, and it then needs no round trip of its own."""
    setattr(user, _REMEMBERED_CLINICS, rows)


# One round trip: the clinics (all, or the one asked for), whether the caller is a member of
# each and as which provider, how many clinics the deployment has, and whether the caller
# is a member anywhere. TOKEN_SQL in clinic/api.py reads the same for every clinic.
CLINICS_SQL = """
SELECT row_to_json(c), m.provider_id, m.id IS NOT NULL,
       (SELECT count(*) FROM clinic_clinic),
       EXISTS (SELECT 1 FROM clinic_membership mm WHERE mm.user_id = %(user)s)
FROM clinic_clinic c
LEFT JOIN clinic_membership m ON m.clinic_id = c.id AND m.user_id = %(user)s
WHERE %(code)s::text IS NULL OR c.code = %(code)s::text
ORDER BY c.id
"""

_WHAT = {
    "scheduling.view_appointment": "see the schedule",
    "scheduling.add_appointment": "book appointments",
    "scheduling.change_appointment": "change appointments",
    "scheduling.cancel_appointment": "cancel appointments",
    "scheduling.view_waitlistentry": "see the waitlist",
    "scheduling.add_waitlistentry": "manage the waitlist",
    "scheduling.change_waitlistentry": "manage the waitlist",
    "clinic.view_patient": "see patients",
    "clinic.add_patient": "add patients",
    "clinic.change_patient": "change patients",
    "clinic.view_provider": "see the clinic's providers",
    "clinic.view_room": "see the clinic's rooms",
    "clinic.view_appointmenttype": "see the clinic's appointment types",
    "clinic.view_equipment": "see the clinic's equipment",
}


def patients(scope: Scope) -> QuerySet[Patient]:
    """The clinic's patients: every role that may see patients sees the clinic's."""
    return Patient.objects.filter(clinic=scope.clinic)
