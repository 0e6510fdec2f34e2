"""A throw-away copy of a clinic for one simulated month, and its complete removal.

The copy is loaded from the clinic file under a code of its own (``sim-<policy>-<random>``),
so it never touches the clinic the file describes or any other. ``scratch_clinic`` removes
it with everything it owns when the block ends, whether the run finished, failed or was
interrupted (Ctrl-C, and SIGTERM, which the command turns into an exception).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.models import Model, ProtectedError, QuerySet, RestrictedError

from clinic.clinic_file import load_clinic_file
from clinic.models import Clinic
from scheduling.models import Appointment, WaitlistEntry

CODE_PREFIX = "sim-"
MAX_DEPTH = 5  # protected rows protected by others: history of offers of bookings, at most


@contextmanager
def scratch_clinic(data: dict[str, Any], *, label: str) -> Iterator[Clinic]:
    """``data`` (a clinic file) loaded as a new clinic, deleted again afterwards."""
    code = f"{CODE_PREFIX}{label}-{secrets.token_hex(4)}"[:64]
    copy = dict(data)
    copy["clinic"] = dict(data["clinic"], code=code, name=f"Simulation scratch clinic ({label})")
    try:
        load_clinic_file(copy)
        yield Clinic.objects.get(code=code)
    finally:
        if not connection.in_atomic_block:
            # An interruption can land while a statement is under way and leave the
            # connection busy or broken: the clean-up starts on a fresh one.
            connection.close()
        delete_clinic(code)


def delete_clinic(code: str) -> None:
    """Delete the clinic and everything it owns, in one transaction.

    Bookings, their history and events, the waitlist (and whatever else another app keeps
    about them, such as waitlist offers) are protected from a plain delete, so that nothing
    clinical vanishes by accident: each protected row is deleted before what it protects,
    as Django names them. Everything else cascades with the clinic.
    """
    with transaction.atomic():
        clinic = Clinic.objects.filter(code=code).first()
        if clinic is None:
            return
        appointments = Appointment.objects.filter(clinic=clinic)
        # Bookings point at each other (a refill at the cancellation it refilled).
        appointments.update(backfill_of=None, rescheduled_from=None)
        _delete_protected_first(WaitlistEntry.objects.filter(clinic=clinic))
        _delete_protected_first(appointments)
        _delete_protected_first(Clinic.objects.filter(pk=clinic.pk))


def _delete_protected_first(queryset: QuerySet[Any], depth: int = 0) -> None:
    """``queryset.delete()``, after deleting the rows that protect its rows (recursively)."""
    while True:
        try:
            queryset.delete()
            return
        except (ProtectedError, RestrictedError) as exc:
            if depth > MAX_DEPTH:
                raise
            blockers = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
            by_model: dict[type[Model], set[Any]] = defaultdict(set)
            for obj in blockers:
                by_model[type(obj)].add(obj.pk)
            for model, pks in by_model.items():
                _delete_protected_first(model._default_manager.filter(pk__in=pks), depth + 1)
