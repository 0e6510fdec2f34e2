"""Practitioner (providers), Location (the clinic and its rooms), HealthcareService
(appointment types), Schedule (one per provider) and Patient: read and search.

Each needs the permission the JSON API's matching endpoint needs, and sees the caller's
clinic only: another clinic's code is a ``404`` on read and matches nothing in a search.
Patients are audited as the API audits them (door ``api``, detail ``FHIR``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from audit import services as audit
from audit.models import AuditAction, AuditDoor
from clinic import access
from clinic.access import Scope
from clinic.errors import NotFound
from clinic.models import AppointmentType, Clinic, Patient, Provider, Room
from fhir import serialize
from fhir.door import caller_scope, fhir_response
from fhir.ids import BASE, CLINIC_LOCATION_ID, IDENTIFIER_SYSTEMS, id_code
from fhir.params import Search, date_range, reference_id, token, type_code

AUDIT_DETAIL = "FHIR"


# --- Search filters ----------------------------------------------------------------------


def _codes(search: Search, resource_type: str) -> Q:
    """``_id`` and ``identifier``: the objects with these codes."""
    q = Q()
    for values in search.values("_id"):
        q &= Q(code__in=[code for code in map(id_code, values) if code])
    for values in search.values("identifier"):
        system = IDENTIFIER_SYSTEMS[resource_type]
        q &= Q(code__in=[code for code in (token(v, system) for v in values) if code])
    return q


def _strings(search: Search, name: str, fields: Iterable[str], *, words: bool = False) -> Q:
    """A string parameter over ``fields``: starts with (any word of it, with ``words``),
    ``:exact`` or ``:contains``, case-insensitive but for ``:exact``."""
    found = search.string(name)
    if found is None:
        return Q()
    values, how = found
    any_value = Q()
    for value in values:
        for field in fields:
            if how == "exact":
                any_value |= Q(**{field: value})
            elif how == "contains":
                any_value |= Q(**{f"{field}__icontains": value})
            else:
                any_value |= Q(**{f"{field}__istartswith": value})
                if words:
                    any_value |= Q(**{f"{field}__icontains": " " + value})
    return any_value


def _active(search: Search) -> bool:
    """``active=false`` matches nothing: every object here is active."""
    values = search.one("active")
    return values is None or "true" in values


def _page(
    search: Search, queryset: QuerySet[Any], serialize_one: Callable[[Any], dict[str, Any]]
) -> HttpResponse:
    total = queryset.count()
    entries = [serialize_one(obj) for obj in search.window(queryset)] if total else []
    return fhir_response(search.bundle(entries, total))


def _one(queryset: QuerySet[Any], fhir_id: str, what: str) -> Any:
    code = id_code(fhir_id)
    found = queryset.filter(code=code).first() if code else None
    if found is None:
        raise NotFound(f"No {what} with id {fhir_id!r}.")
    return found


# --- Practitioner ------------------------------------------------------------------------


def _providers(request: HttpRequest) -> tuple[Clinic, QuerySet[Provider]]:
    clinic = caller_scope(request, "clinic.view_provider").clinic
    return clinic, Provider.objects.filter(clinic=clinic).order_by("code")


def practitioner_read(request: HttpRequest, fhir_id: str) -> HttpResponse:
    _, providers = _providers(request)
    return fhir_response(serialize.practitioner(_one(providers, fhir_id, "practitioner")))


def practitioner_search(request: HttpRequest) -> HttpResponse:
    _, providers = _providers(request)
    search = Search(request, ("_id", "identifier", "name", "active"))
    if not _active(search):
        providers = providers.none()
    providers = providers.filter(
        _codes(search, "Practitioner"), _strings(search, "name", ["name"], words=True)
    )
    return _page(search, providers, serialize.practitioner)


# --- Location ----------------------------------------------------------------------------


def rooms_of(request: HttpRequest) -> tuple[Clinic, QuerySet[Room]]:
    clinic = caller_scope(request, "clinic.view_room").clinic
    equipment = Prefetch("equipment", to_attr="equipment_list")
    return clinic, Room.objects.filter(clinic=clinic).prefetch_related(equipment).order_by("code")


def room_writer(clinic: Clinic) -> Callable[[Room], dict[str, Any]]:
    return lambda room: serialize.room_location(room, clinic, (e.name for e in room.equipment_list))  # type: ignore[attr-defined]


def location_read(request: HttpRequest, fhir_id: str) -> HttpResponse:
    clinic, rooms = rooms_of(request)
    if fhir_id == CLINIC_LOCATION_ID:
        return fhir_response(serialize.clinic_location(clinic))
    return fhir_response(room_writer(clinic)(_one(rooms, fhir_id, "location")))


def _clinic_matches(search: Search, clinic: Clinic) -> bool:
    """Whether the clinic's own Location matches the search, as its rooms are matched."""
    for values in search.values("_id"):
        if CLINIC_LOCATION_ID not in values:
            return False
    for values in search.values("identifier"):
        if not any(token(v, f"{BASE}/sid/clinic") == clinic.code and "|" in v for v in values):
            return False
    if search.values("partof"):
        return False
    found = search.string("name")
    if found is not None:
        values, how = found
        name = clinic.name
        tests = {
            "exact": lambda v: name == v,
            "contains": lambda v: v.lower() in name.lower(),
            "startswith": lambda v: name.lower().startswith(v.lower()) or f" {v.lower()}" in name.lower(),
        }
        if not any(tests[how](v) for v in values):
            return False
    return _active(search)


def location_search(request: HttpRequest) -> HttpResponse:
    clinic, rooms = rooms_of(request)
    search = Search(request, ("_id", "identifier", "name", "partof", "active"))
    if not _active(search):
        rooms = rooms.none()
    rooms = rooms.filter(_codes(search, "Location"), _strings(search, "name", ["name"], words=True))
    for values in search.values("partof"):
        if not any(reference_id(v, "Location") == CLINIC_LOCATION_ID for v in values):
            rooms = rooms.none()
    # The clinic first, then its rooms.
    clinic_first = [serialize.clinic_location(clinic)] if _clinic_matches(search, clinic) else []
    total = len(clinic_first) + rooms.count()
    head = search.window(clinic_first)
    start = max(0, search.offset - len(clinic_first))
    wanted = search.count - len(head)
    page = list(rooms[start : start + wanted]) if wanted > 0 else []
    entries = head + [room_writer(clinic)(room) for room in page]
    return fhir_response(search.bundle(entries, total))


# --- HealthcareService -------------------------------------------------------------------


def _types(request: HttpRequest) -> tuple[Clinic, QuerySet[AppointmentType]]:
    clinic = caller_scope(request, "clinic.view_appointmenttype").clinic
    equipment = Prefetch("required_equipment", to_attr="equipment_list")
    return clinic, AppointmentType.objects.filter(clinic=clinic).prefetch_related(equipment).order_by("code")


def _service(clinic: Clinic) -> Callable[[AppointmentType], dict[str, Any]]:
    return lambda t: serialize.healthcare_service(t, clinic, (e.name for e in t.equipment_list))  # type: ignore[attr-defined]


def service_read(request: HttpRequest, fhir_id: str) -> HttpResponse:
    clinic, types = _types(request)
    return fhir_response(_service(clinic)(_one(types, fhir_id, "healthcare service")))


def service_search(request: HttpRequest) -> HttpResponse:
    clinic, types = _types(request)
    search = Search(request, ("_id", "identifier", "name", "service-type", "active"))
    if not _active(search):
        types = types.none()
    types = types.filter(_codes(search, "HealthcareService"), _strings(search, "name", ["name"], words=True))
    for values in search.values("service-type"):
        types = types.filter(code__in=[c for c in (type_code(v) for v in values) if c])
    return _page(search, types, _service(clinic))


# --- Schedule ----------------------------------------------------------------------------


def schedules_of(
    request: HttpRequest,
) -> tuple[Clinic, QuerySet[Provider], Callable[[Provider], dict[str, Any]]]:
    """The providers (a Schedule each), and how to write one: with the types each performs
    (a type that names no provider is performed by all), read in one query."""
    clinic = caller_scope(request, "clinic.view_provider").clinic
    rows = list(
        AppointmentType.objects.filter(clinic=clinic)
        .order_by("code")
        .values_list("code", "name", "providers")  # one row per (type, provider), or provider None
    )
    every: dict[str, str] = {}
    performed: dict[int, dict[str, str]] = {}
    for code, name, provider_id in rows:
        if provider_id is None:
            every[code] = name
        else:
            performed.setdefault(provider_id, {})[code] = name
    now = timezone.now()

    def one(provider: Provider) -> dict[str, Any]:
        types = sorted({**every, **performed.get(provider.pk, {})}.items())
        return serialize.schedule(provider, clinic, types, now)

    return clinic, Provider.objects.filter(clinic=clinic).order_by("code"), one


def schedule_read(request: HttpRequest, fhir_id: str) -> HttpResponse:
    _, providers, one = schedules_of(request)
    return fhir_response(one(_one(providers, fhir_id, "schedule")))


def schedule_search(request: HttpRequest) -> HttpResponse:
    clinic, providers, one = schedules_of(request)
    search = Search(request, ("_id", "identifier", "actor", "service-type", "active"))
    if not _active(search):
        providers = providers.none()
    providers = providers.filter(_codes(search, "Schedule"))
    for values in search.values("actor"):
        codes = [id_code(found) for found in (reference_id(v, "Practitioner") for v in values) if found]
        if any(reference_id(v, "Location") == CLINIC_LOCATION_ID for v in values):
            continue  # every Schedule is the clinic's
        providers = providers.filter(code__in=[c for c in codes if c])
    for values in search.values("service-type"):
        codes = [c for c in (type_code(v) for v in values) if c]
        types = AppointmentType.objects.filter(clinic=clinic, code__in=codes)
        if not types.filter(providers__isnull=True).exists():  # else every provider performs one
            providers = providers.filter(pk__in=types.values("providers"))
    return _page(search, providers, one)


# --- Patient -----------------------------------------------------------------------------


def _patients(request: HttpRequest) -> tuple[Scope, QuerySet[Patient]]:
    caller = caller_scope(request, "clinic.view_patient")
    return caller, access.patients(caller).order_by("last_name", "first_name", "code")


def patient_read(request: HttpRequest, fhir_id: str) -> HttpResponse:
    caller, patients = _patients(request)
    found = _one(patients, fhir_id, "patient")
    audit.record(
        user=request.user,
        action=AuditAction.VIEW,
        door=AuditDoor.API,
        clinic=caller.clinic,
        patients=[found],
        detail=AUDIT_DETAIL,
    )
    return fhir_response(serialize.patient(found))


def patient_search(request: HttpRequest) -> HttpResponse:
    caller, patients = _patients(request)
    search = Search(request, ("_id", "identifier", "name", "family", "given", "birthdate", "active"))
    if not _active(search):
        patients = patients.none()
    patients = patients.filter(
        _codes(search, "Patient"),
        _strings(search, "name", ["first_name", "last_name"]),
        _strings(search, "family", ["last_name"]),
        _strings(search, "given", ["first_name"]),
    )
    born = date_range(search, "birthdate", caller.clinic.tz)
    if born.after is not None:
        patients = patients.filter(birth_date__gte=born.after.astimezone(caller.clinic.tz).date())
    if born.before is not None:
        patients = patients.filter(birth_date__lt=born.before.astimezone(caller.clinic.tz).date())
    total = patients.count()
    page = list(search.window(patients)) if total else []
    # As the API's patient search: one record with the count, never what was searched for.
    audit.record_search(user=request.user, door=AuditDoor.API, clinic=caller.clinic, found=total)
    return fhir_response(search.bundle([serialize.patient(p) for p in page], total))
