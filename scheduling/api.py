"""Slots, appointments and the waitlist over JSON (see shared/spec/api.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from clinic.access import scope
from clinic.api import answers, check_dates
from clinic.errors import ValidationFailed
from scheduling import selectors
from scheduling.engine import Factors, Slot
from scheduling.engine.calendar import local_iso

router = Router()

MAX_SEARCH_DAYS = 31


class SlotsParams(Schema):
    appointment_type: str = Field(..., max_length=64, description="Appointment type code.")
    date_from: dt.date = Field(..., description="First local date, inclusive (YYYY-MM-DD).")
    date_to: dt.date = Field(..., description="Last local date, inclusive; at most 31 days after date_from.")
    provider: str | None = Field(None, max_length=64, description="Only this provider.")
    patient: str | None = Field(
        None, max_length=64, description="Score with this patient's preferences; skip times they are booked."
    )
    overbook: bool = Field(True, description="Include overbooking seats.")
    limit: int = Field(20, ge=1, le=1000)
    clinic: str | None = Field(None, max_length=64, description="Clinic code, where several exist.")


class FactorsOut(Schema):
    preference: float
    compactness: float
    room_switch: float
    overbooking: float


class SlotOut(Schema):
    start: str
    end: str
    provider: str
    room: str
    overbook: bool
    score: float
    factors: FactorsOut
    explanation: list[str] = Field(description="Why the slot scores as it does, in words.")


class SlotsOut(Schema):
    appointment_type: str
    total: int
    slots: list[SlotOut]


FACTOR_NAMES = Factors._fields


def slot_out(slot: Slot, tz: ZoneInfo) -> dict[str, Any]:
    """One slot as SlotOut has it. Built for up to a thousand slots per answer: the times
    in the clinic's zone, the factors by name."""
    return {
        "start": local_iso(slot.start, tz),
        "end": local_iso(slot.end, tz),
        "provider": slot.provider,
        "room": slot.room,
        "overbook": slot.seat > 0,
        "score": slot.score,
        "factors": dict(zip(FACTOR_NAMES, slot.factors, strict=True)),
        "explanation": list(slot.explanation),
    }


@router.get(
    "/slots", response=answers({200: SlotsOut}), tags=["slots"], summary="Ranked free slots for a type"
)
def list_slots(request: HttpRequest, params: Query[SlotsParams]) -> HttpResponse:
    check_dates(date_from=params.date_from, date_to=params.date_to)
    if params.date_to < params.date_from:
        raise ValidationFailed({"date_to": "date_to must not be before date_from."})
    if (params.date_to - params.date_from).days > MAX_SEARCH_DAYS:
        raise ValidationFailed({"date_to": f"Search at most {MAX_SEARCH_DAYS} days at once."})
    clinic = scope(request.user, params.clinic, need="scheduling.view_appointment").clinic
    result = selectors.search_slots(
        clinic=clinic,
        appointment_type_code=params.appointment_type,
        date_from=params.date_from,
        date_to=params.date_to,
        now=timezone.now(),
        provider_code=params.provider,
        patient_code=params.patient,
        include_overbooking=params.overbook,
        limit=params.limit,
    )
    # Built to the schema by slot_out; answered directly, since validating up to a
    # thousand slots again would cost more than finding them on a small clinic, and
    # serialized by orjson, several times faster than the json module on a long answer
    # (the same JSON, compact and in UTF-8).
    body = {
        "appointment_type": params.appointment_type,
        "total": result.total,
        "slots": [slot_out(slot, clinic.tz) for slot in result.slots],
    }
    return HttpResponse(orjson.dumps(body), content_type="application/json")
