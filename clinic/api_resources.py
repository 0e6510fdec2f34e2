"""Patients (search, create, read) and read access to the clinic's resources."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import prefetch_related_objects
from django.http import HttpRequest
from ninja import Field, Router, Schema
from pydantic import ConfigDict

from audit import services as audit
from audit.models import AuditAction, AuditDoor
from clinic import access, selectors, services
from clinic.access import scope
from clinic.api import answers, idempotent
from clinic.errors import NotFound, ValidationFailed
from clinic.models import CODE_PATTERN, WEEKDAY_KEYS, AppointmentType, Equipment, Patient, Provider, Room

router = Router()


PHONE = r"^[0-9+() ./-]*$"


class PreferencesIn(Schema):
    """A patient's preferences. On PATCH each list given replaces the stored one, and one
    left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    providers: list[str] | None = Field(None, max_length=100, description="Provider codes.")
    days: list[str] | None = Field(None, max_length=7, description="Weekday keys: mon .. sun.")
    times: list[tuple[str, str]] | None = Field(
        None, max_length=24, description='Local time ranges, e.g. [["08:00", "11:00"]].'
    )

    def for_service(self) -> dict[str, Any]:
        """The lists given, as the services name them."""
        given = {
            "preferred_providers": self.providers,
            "preferred_days": self.days,
            "preferred_times": self.times,
        }
        return {name: value for name, value in given.items() if value is not None}


class PatientIn(Schema):
    code: str = Field(..., max_length=64, pattern=CODE_PATTERN)
    first_name: str = Field(..., min_length=1, max_length=100)
    last_name: str = Field(..., min_length=1, max_length=100)
    birth_date: dt.date | None = None
    phone: str = Field("", max_length=40, pattern=PHONE, description="Stored in E.164: +49305550000.")
    email: str = Field("", max_length=254)
    preferences: PreferencesIn | None = None


class PatientPatch(Schema):
    """Contact fields and preferences; what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(
        None, max_length=40, pattern=PHONE, description="Stored in E.164: +49305550000."
    )
    email: str | None = Field(None, max_length=254)
    preferences: PreferencesIn | None = None


class PreferencesOut(Schema):
    providers: list[str]
    days: list[str]
    times: list[tuple[str, str]]


class PatientOut(Schema):
    code: str
    first_name: str
    last_name: str
    birth_date: str | None
    phone: str = Field(description="E.164: +49305550000, or empty.")
    email: str
    preferences: PreferencesOut


class ProviderOut(Schema):
    code: str
    name: str
    working_hours: dict[str, list[tuple[str, str]]] = Field(
        description='By weekday key (mon .. sun), local time ranges: {"mon": [["08:00", "12:00"]]}.'
    )


class RoomOut(Schema):
    code: str
    name: str
    equipment: list[str]


class AppointmentTypeOut(Schema):
    code: str
    name: str
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    required_equipment: list[str]
    providers: list[str] = Field(description="The providers allowed to perform it (none: every provider).")


class EquipmentOut(Schema):
    code: str
    name: str


def patient_out(p: Patient) -> dict[str, Any]:
    return {
        "code": p.code,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "birth_date": p.birth_date.isoformat() if p.birth_date else None,
        "phone": p.phone,
        "email": p.email,
        "preferences": {
            "providers": sorted(pr.code for pr in p.preferred_providers.all()),
            "days": list(p.preferred_days),
            "times": list(p.preferred_times),
        },
    }


@router.get("/patients", response=answers({200: list[PatientOut]}), tags=["patients"])
def search_patients(request: HttpRequest, q: str = "", clinic: str | None = None) -> list[dict[str, Any]]:
    """By name, code or phone (digits compared without spaces or punctuation)."""
    if len(q) > 100:
        raise ValidationFailed({"q": "At most 100 characters."})
    caller = scope(request.user, clinic, need="clinic.view_patient")
    patients = list(selectors.patient_search(caller.clinic.pk, q))
    audit.record_search(user=request.user, door=AuditDoor.API, clinic=caller.clinic, found=len(patients))
    prefetch_related_objects(patients, "preferred_providers")
    return [patient_out(p) for p in patients]


@router.post("/patients", response=answers({201: PatientOut}, 413), tags=["patients"])
def create_patient(request: HttpRequest, payload: PatientIn, clinic: str | None = None) -> Any:
    the_clinic = scope(request.user, clinic, need="clinic.add_patient").clinic

    def create() -> tuple[int, dict[str, Any]]:
        patient = services.patient_create(
            clinic=the_clinic,
            **payload.dict(exclude={"preferences"}),
            **(payload.preferences.for_service() if payload.preferences else {}),
        )
        audit.record(
            user=request.user,
            action=AuditAction.CREATE,
            door=AuditDoor.API,
            clinic=the_clinic,
            patients=[patient],
        )
        return 201, patient_out(patient)

    return idempotent(request, create, clinic=the_clinic)


@router.get("/patients/{code}", response=answers({200: PatientOut}), tags=["patients"])
def get_patient(request: HttpRequest, code: str, clinic: str | None = None) -> dict[str, Any]:
    caller = scope(request.user, clinic, need="clinic.view_patient")
    patient = access.patients(caller).filter(code=code).prefetch_related("preferred_providers").first()
    if patient is None:
        raise NotFound(f"No patient with code {code!r}.")
    audit.record(
        user=request.user,
        action=AuditAction.VIEW,
        door=AuditDoor.API,
        clinic=caller.clinic,
        patients=[patient],
    )
    return patient_out(patient)


@router.patch("/patients/{code}", response=answers({200: PatientOut}, 413), tags=["patients"])
def update_patient(request: HttpRequest, code: str, payload: PatientPatch, clinic: str | None = None) -> Any:
    caller = scope(request.user, clinic, need="clinic.change_patient")
    patient = access.patients(caller).filter(code=code).first()
    if patient is None:
        raise NotFound(f"No patient with code {code!r}.")
    patient = services.patient_update(
        patient=patient,
        phone=payload.phone,
        email=payload.email,
        **(payload.preferences.for_service() if payload.preferences else {}),
    )
    audit.record(
        user=request.user,
        action=AuditAction.CHANGE,
        door=AuditDoor.API,
        clinic=caller.clinic,
        patients=[patient],
        detail=", ".join(sorted(payload.dict(exclude_unset=True))),  # the fields' names, never values
    )
    return patient_out(patient)


@router.get("/providers", response=answers({200: list[ProviderOut]}), tags=["resources"])
def list_providers(request: HttpRequest, clinic: str | None = None) -> list[dict[str, Any]]:
    providers = Provider.objects.filter(
        clinic=scope(request.user, clinic, need="clinic.view_provider").clinic
    ).prefetch_related("working_hours")
    out = []
    for p in providers.order_by("code"):
        hours: dict[str, list[list[str]]] = {}
        for w in p.working_hours.all():
            hours.setdefault(WEEKDAY_KEYS[w.weekday], []).append([f"{w.start:%H:%M}", f"{w.end:%H:%M}"])
        out.append({"code": p.code, "name": p.name, "working_hours": hours})
    return out


@router.get("/rooms", response=answers({200: list[RoomOut]}), tags=["resources"])
def list_rooms(request: HttpRequest, clinic: str | None = None) -> list[dict[str, Any]]:
    rooms = (
        Room.objects.filter(clinic=scope(request.user, clinic, need="clinic.view_room").clinic)
        .prefetch_related("equipment")
        .order_by("code")
    )
    return [
        {"code": r.code, "name": r.name, "equipment": sorted(e.code for e in r.equipment.all())}
        for r in rooms
    ]


@router.get("/appointment-types", response=answers({200: list[AppointmentTypeOut]}), tags=["resources"])
def list_appointment_types(request: HttpRequest, clinic: str | None = None) -> list[dict[str, Any]]:
    types = (
        AppointmentType.objects.filter(
            clinic=scope(request.user, clinic, need="clinic.view_appointmenttype").clinic
        )
        .prefetch_related("required_equipment", "providers")
        .order_by("code")
    )
    return [
        {
            "code": t.code,
            "name": t.name,
            "duration_minutes": t.duration_minutes,
            "buffer_before_minutes": t.buffer_before_minutes,
            "buffer_after_minutes": t.buffer_after_minutes,
            "required_equipment": sorted(e.code for e in t.required_equipment.all()),
            "providers": sorted(p.code for p in t.providers.all()),
        }
        for t in types
    ]


@router.get("/equipment", response=answers({200: list[EquipmentOut]}), tags=["resources"])
def list_equipment(request: HttpRequest, clinic: str | None = None) -> list[dict[str, Any]]:
    return [
        {"code": e.code, "name": e.name}
        for e in Equipment.objects.filter(
            clinic=scope(request.user, clinic, need="clinic.view_equipment").clinic
        ).order_by("code")
    ]
