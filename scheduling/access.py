"""Which appointments and waitlist entries a caller may see (see ``clinic.access``)."""

from __future__ import annotations

from clinic.access import Scope
from clinic.errors import NotFound
from scheduling.models import Appointment, AppointmentQuerySet, WaitlistEntry, WaitlistEntryQuerySet


def appointments(scope: Scope) -> AppointmentQuerySet:
    """The clinic's appointments this caller sees: all of them, or a clinician's own."""
    visible = Appointment.objects.filter(clinic=scope.clinic)
    if scope.own_provider_only:
        return visible.filter(provider_id=scope.provider_id) if scope.provider_id else visible.none()
    return visible


def ensure_appointment(scope: Scope, appointment_id: int) -> None:
    """``not_found`` unless the caller sees this appointment; the service that follows
    looks it up within the clinic itself, so only a clinician's scope needs a query."""
    if scope.own_provider_only and not appointments(scope).filter(pk=appointment_id).exists():
        raise NotFound(f"No appointment with id {appointment_id}.")


def waitlist(scope: Scope) -> WaitlistEntryQuerySet:
    return WaitlistEntry.objects.filter(clinic=scope.clinic)
