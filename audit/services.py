"""Writing the audit trail: one call per view, search, export or change."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from audit.models import AuditAction, AuditDoor, AuditRecord
from clinic.models import Clinic, Patient

DETAIL_CHARS = AuditRecord._meta.get_field("detail").max_length or 200


def record(
    *,
    user: AbstractBaseUser | AnonymousUser | None,
    action: AuditAction | str,
    door: AuditDoor | str,
    clinic: Clinic,
    patients: Iterable[Patient] = (),
    detail: str = "",
) -> list[AuditRecord]:
    """Record that ``user`` did ``action`` on these patients' data through ``door``: one row
    per patient, or one row without a patient when none is given (a search, with its
    result count in ``detail``; an export).

    ``detail`` must not hold a patient's name or contact data, or what was searched for.
    Runs in the caller's transaction, so a change and its record commit together.
    """
    user_id = user.pk if user is not None and user.is_authenticated else None
    now = timezone.now()
    rows = [
        AuditRecord(
            at=now,
            user_id=user_id,
            action=action,
            door=door,
            clinic=clinic,
            patient=patient,
            detail=detail[:DETAIL_CHARS],
        )
        for patient in (list[Patient | None](patients) or [None])
    ]
    return AuditRecord.objects.bulk_create(rows)


def record_search(
    *, user: AbstractBaseUser | AnonymousUser | None, door: AuditDoor | str, clinic: Clinic, found: int
) -> list[AuditRecord]:
    """A patient search: one row, with how many patients it found, never what was typed."""
    detail = f"{found} result" if found == 1 else f"{found} results"
    return record(user=user, action=AuditAction.SEARCH, door=door, clinic=clinic, detail=detail)
