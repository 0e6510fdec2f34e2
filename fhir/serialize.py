"""This project's objects as FHIR R4 resources (plain dicts, serialized by orjson).

Statuses, one to one (an appointment's FHIR ``status`` and its Patient participant's
``status`` together name exactly one of this project's statuses):

=============  ================  ===========================
this project   Appointment       Patient participant
=============  ================  ===========================
booked         ``booked``        ``needs-action`` (to confirm)
confirmed      ``booked``        ``accepted``
checked_in     ``checked-in``    ``accepted``
completed      ``fulfilled``     ``accepted``
cancelled      ``cancelled``     ``accepted``
no_show        ``noshow``        ``accepted``
=============  ================  ===========================

``arrived`` is read as ``checked-in`` when a client sends it (both say the patient is
here); the server answers ``checked-in``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clinic.models import AppointmentType, Clinic, Patient, Provider, Room
from fhir.ids import (
    APPOINTMENT_TYPE_SYSTEM,
    BASE,
    BOOKING_DEEP_LINK,
    CLINIC_LOCATION_ID,
    IDENTIFIER_SYSTEMS,
    ROOM_EXTENSION,
    SlotKey,
    code_id,
)
from scheduling.engine import Slot
from scheduling.engine.calendar import local_date, local_iso, local_midnight
from scheduling.models import Appointment, AppointmentStatus

S = AppointmentStatus
STATUS = {
    S.BOOKED: "booked",
    S.CONFIRMED: "booked",
    S.CHECKED_IN: "checked-in",
    S.COMPLETED: "fulfilled",
    S.CANCELLED: "cancelled",
    S.NO_SHOW: "noshow",
}
# A FHIR status searched for or asked for: the project's statuses it stands for.
STATUSES_OF = {
    "booked": (S.BOOKED, S.CONFIRMED),
    "checked-in": (S.CHECKED_IN,),
    "arrived": (S.CHECKED_IN,),
    "fulfilled": (S.COMPLETED,),
    "cancelled": (S.CANCELLED,),
    "noshow": (S.NO_SHOW,),
}
FHIR_STATUSES = (
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
)
LOCATION_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"


def reference(resource_type: str, fhir_id: str, display: str | None = None) -> dict[str, str]:
    found = {"reference": f"{resource_type}/{fhir_id}"}
    if display:
        found["display"] = display
    return found


def identifier(resource_type: str, code: str) -> list[dict[str, str]]:
    return [{"system": IDENTIFIER_SYSTEMS[resource_type], "value": code}]


def type_concept(code: str, name: str) -> dict[str, Any]:
    """An appointment type as the CodeableConcept of a ``serviceType``."""
    return {"coding": [{"system": APPOINTMENT_TYPE_SYSTEM, "code": code, "display": name}], "text": name}


def practitioner(provider: Provider) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": code_id(provider.code),
        "identifier": identifier("Practitioner", provider.code),
        "active": True,
        "name": [{"text": provider.name}],
    }


def clinic_location(clinic: Clinic) -> dict[str, Any]:
    """The clinic itself: the site its rooms are part of, and where its Schedules are."""
    return {
        "resourceType": "Location",
        "id": CLINIC_LOCATION_ID,
        "identifier": [{"system": f"{BASE}/sid/clinic", "value": clinic.code}],
        "status": "active",
        "name": clinic.name,
        "mode": "instance",
        "physicalType": {"coding": [{"system": LOCATION_TYPE, "code": "si", "display": "Site"}]},
        **(
            {"address": {"text": clinic.address, "line": clinic.address.splitlines()}}
            if clinic.address
            else {}
        ),
        **({"telecom": [{"system": "email", "value": clinic.email}]} if clinic.email else {}),
    }


def room_location(room: Room, clinic: Clinic, equipment: Iterable[str]) -> dict[str, Any]:
    names = sorted(equipment)
    found: dict[str, Any] = {
        "resourceType": "Location",
        "id": code_id(room.code),
        "identifier": identifier("Location", room.code),
        "status": "active",
        "name": room.name,
        "mode": "instance",
        "physicalType": {"coding": [{"system": LOCATION_TYPE, "code": "ro", "display": "Room"}]},
        "partOf": reference("Location", CLINIC_LOCATION_ID, clinic.name),
    }
    if names:
        found["description"] = "Equipment: " + ", ".join(names) + "."
    return found


def healthcare_service(
    appointment_type: AppointmentType, clinic: Clinic, equipment: Iterable[str]
) -> dict[str, Any]:
    t = appointment_type
    buffers = [
        f"{minutes} minutes' buffer {where}"
        for minutes, where in ((t.buffer_before_minutes, "before"), (t.buffer_after_minutes, "after"))
        if minutes
    ]
    needs = sorted(equipment)
    comment = f"{t.duration_minutes} minutes" + (f" ({', '.join(buffers)})" if buffers else "") + "."
    if needs:
        comment += " Needs: " + ", ".join(needs) + "."
    return {
        "resourceType": "HealthcareService",
        "id": code_id(t.code),
        "identifier": identifier("HealthcareService", t.code),
        "active": True,
        "type": [type_concept(t.code, t.name)],
        "name": t.name,
        "comment": comment,
        "location": [reference("Location", CLINIC_LOCATION_ID, clinic.name)],
    }


def schedule(
    provider: Provider, clinic: Clinic, types: Iterable[tuple[str, str]], now: dt.datetime
) -> dict[str, Any]:
    """A provider's Schedule: whom it is for, where, which types they perform (``types``:
    ``(code, name)``) and how far ahead they can be booked."""
    last_day = local_date(now, clinic.tz) + dt.timedelta(days=clinic.booking_horizon_days)
    return {
        "resourceType": "Schedule",
        "id": code_id(provider.code),
        "identifier": identifier("Schedule", provider.code),
        "active": True,
        "serviceType": [type_concept(code, name) for code, name in types],
        "actor": [
            reference("Practitioner", code_id(provider.code), provider.name),
            reference("Location", CLINIC_LOCATION_ID, clinic.name),
        ],
        "planningHorizon": {
            "start": local_iso(now, clinic.tz),
            "end": local_iso(local_midnight(last_day + dt.timedelta(days=1), clinic.tz), clinic.tz),
        },
    }


def patient(p: Patient) -> dict[str, Any]:
    found: dict[str, Any] = {
        "resourceType": "Patient",
        "id": code_id(p.code),
        "identifier": identifier("Patient", p.code),
        "active": True,
        "name": [{"family": p.last_name, "given": [p.first_name], "text": p.full_name}],
    }
    telecom = [{"system": "phone", "value": p.phone}] if p.phone else []
    if p.email:
        telecom.append({"system": "email", "value": p.email})
    if telecom:
        found["telecom"] = telecom
    if p.birth_date:
        found["birthDate"] = p.birth_date.isoformat()
    return found


@dataclass(frozen=True)
class Directory:
    """The clinic's providers, rooms and types by code: database key and name, what a
    Slot's id and words need (read in one query for a whole page of Slots)."""

    providers: dict[str, tuple[int, str]]
    rooms: dict[str, tuple[int, str]]
    types: dict[str, tuple[int, str]]


def slot(
    *,
    start: dt.datetime,
    end: dt.datetime,
    provider: str,
    room: str,
    seat: int,
    type_code: str,
    clinic: Clinic,
    directory: Directory,
    deep_link: str | None = None,
    status: str = "free",
) -> dict[str, Any]:
    """A Slot: a provider's time for a type in a room, on a seat (0 regular, 1.. an
    overbooking seat), with the room as an extension."""
    provider_pk, provider_name = directory.providers[provider]
    room_pk, room_name = directory.rooms[room]
    type_pk, type_name = directory.types[type_code]
    key = SlotKey(provider_pk, room_pk, type_pk, start, seat)
    extensions: list[dict[str, Any]] = [
        {"url": ROOM_EXTENSION, "valueReference": reference("Location", code_id(room), room_name)}
    ]
    if deep_link is not None:
        extensions.append({"url": BOOKING_DEEP_LINK, "valueUrl": deep_link})
    comment = f"{type_name} with {provider_name} in {room_name}"
    return {
        "resourceType": "Slot",
        "id": key.id,
        "extension": extensions,
        "serviceType": [type_concept(type_code, type_name)],
        "schedule": reference("Schedule", code_id(provider), provider_name),
        "status": status,
        "start": local_iso(start, clinic.tz),
        "end": local_iso(end, clinic.tz),
        "overbooked": seat > 0,
        "comment": comment + (" (an overbooking seat)." if seat > 0 else "."),
    }


def found_slot(
    found: Slot, *, type_code: str, clinic: Clinic, directory: Directory, deep_link: str | None = None
) -> dict[str, Any]:
    """A free Slot as the engine found it."""
    return slot(
        start=found.start,
        end=found.end,
        provider=found.provider,
        room=found.room,
        seat=found.seat,
        type_code=type_code,
        clinic=clinic,
        directory=directory,
        deep_link=deep_link,
    )


def appointment(a: Appointment) -> dict[str, Any]:
    """An appointment; its relations (clinic, patient, type, provider, room) loaded."""
    tz = a.clinic.tz
    key = SlotKey(a.provider_id, a.room_id, a.appointment_type_id, a.start, a.seat)
    found: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(a.pk),
        "meta": {"lastUpdated": local_iso(a.updated_at, tz)},
        "status": STATUS[S(a.status)],
    }
    if a.status == S.CANCELLED:
        found["cancelationReason"] = {"text": a.cancel_reason or "cancelled"}
    found.update(
        {
            "serviceType": [type_concept(a.appointment_type.code, a.appointment_type.name)],
            "start": local_iso(a.start, tz),
            "end": local_iso(a.end, tz),
            "minutesDuration": int((a.end - a.start).total_seconds() // 60),
            "slot": [reference("Slot", key.id)],
            "created": local_iso(a.created_at, tz),
        }
    )
    if a.note:
        found["comment"] = a.note
    found["participant"] = [
        {
            "actor": reference("Patient", code_id(a.patient.code)),
            "required": "required",
            "status": "needs-action" if a.status == S.BOOKED else "accepted",
        },
        {
            "actor": reference("Practitioner", code_id(a.provider.code), a.provider.name),
            "required": "required",
            "status": "accepted",
        },
        {
            "actor": reference("Location", code_id(a.room.code), a.room.name),
            "required": "required",
            "status": "accepted",
        },
    ]
    return found
