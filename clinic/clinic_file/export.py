"""A clinic, back as a clinic file: the shape ``load_clinic`` reads.

Stable: every list is sorted (by code, by start), so two exports of the same data are
identical and an export loaded into an empty database exports identically again.
Datetimes are local to the clinic, without an offset, except a local time the clocks
repeat: only an offset says which of the two is meant.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Prefetch

from clinic.clinic_file.spec import DEFAULT_NO_SHOW_GRACE_MINUTES
from clinic.models import (
    WEEKDAY_KEYS,
    AppointmentType,
    Clinic,
    Equipment,
    OverbookingRule,
    Patient,
    Provider,
    Room,
    TimeOff,
    WorkingHours,
)
from scheduling.models import Appointment, WaitlistEntry


def format_datetime(moment: dt.datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    if local.microsecond:
        text = local.replace(tzinfo=None).isoformat(timespec="microseconds")
    elif local.second:
        text = local.replace(tzinfo=None).isoformat(timespec="seconds")
    else:
        text = local.replace(tzinfo=None).isoformat(timespec="minutes")
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        text += local.isoformat()[-6:]
    return text


def _clock(value: dt.time) -> str:
    return f"{value:%H:%M}"


def _codes(objects: Any) -> list[str]:
    return sorted(o.code for o in objects)


def export_clinic(clinic: Clinic) -> dict[str, Any]:
    """The clinic file of ``clinic``, in a fixed number of queries."""
    tz = clinic.tz
    return {
        "clinic": _clinic(clinic),
        "equipment": [
            {"code": e.code, "name": e.name} for e in Equipment.objects.filter(clinic=clinic).order_by("code")
        ],
        "rooms": [
            {"code": r.code, "name": r.name, "equipment": _codes(r.equipment.all())}
            for r in Room.objects.filter(clinic=clinic).order_by("code").prefetch_related("equipment")
        ],
        "appointment_types": [
            {
                "code": t.code,
                "name": t.name,
                "duration_minutes": t.duration_minutes,
                "buffer_before_minutes": t.buffer_before_minutes,
                "buffer_after_minutes": t.buffer_after_minutes,
                "required_equipment": _codes(t.required_equipment.all()),
                "providers": _codes(t.providers.all()),
            }
            for t in AppointmentType.objects.filter(clinic=clinic)
            .order_by("code")
            .prefetch_related("required_equipment", "providers")
        ],
        "providers": _providers(clinic, tz),
        "overbooking_rules": _rules(clinic),
        "patients": _patients(clinic),
        "appointments": _appointments(clinic, tz),
        "waitlist": _waitlist(clinic),
    }


def _clinic(clinic: Clinic) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": clinic.code,
        "name": clinic.name,
        "timezone": clinic.timezone,
        "slot_minutes": clinic.slot_minutes,
        "min_notice_minutes": clinic.min_notice_minutes,
        "booking_horizon_days": clinic.booking_horizon_days,
        "scoring_weights": {
            "preference": clinic.weight_preference,
            "compactness": clinic.weight_compactness,
            "room_switch": clinic.weight_room_switch,
            "overbooking": clinic.weight_overbooking,
        },
        "closures": [
            {"date": c.date.isoformat(), "reason": c.reason} for c in clinic.closures.order_by("date")
        ],
    }
    # Not in the spec's example: written only when it differs from the default.
    if clinic.no_show_grace_minutes != DEFAULT_NO_SHOW_GRACE_MINUTES:
        data["no_show_grace_minutes"] = clinic.no_show_grace_minutes
    return data


def _providers(clinic: Clinic, tz: ZoneInfo) -> list[dict[str, Any]]:
    providers = Provider.objects.filter(clinic=clinic).order_by("code")
    hours: dict[int, dict[str, list[list[str]]]] = defaultdict(dict)
    for w in WorkingHours.objects.filter(provider__clinic=clinic).order_by("provider", "weekday", "start"):
        hours[w.provider_id].setdefault(WEEKDAY_KEYS[w.weekday], []).append([_clock(w.start), _clock(w.end)])
    time_off: dict[int, list[dict[str, str]]] = defaultdict(list)
    for t in TimeOff.objects.filter(provider__clinic=clinic).order_by("provider", "start", "end"):
        time_off[t.provider_id].append(
            {"start": format_datetime(t.start, tz), "end": format_datetime(t.end, tz), "reason": t.reason}
        )
    return [
        {
            "code": p.code,
            "name": p.name,
            "working_hours": hours.get(p.pk, {}),
            "time_off": time_off.get(p.pk, []),
        }
        for p in providers
    ]


def _rules(clinic: Clinic) -> list[dict[str, Any]]:
    """The global rule first, then per provider: the provider's rule before its types'."""
    rules = []
    for r in OverbookingRule.objects.filter(clinic=clinic).select_related("provider", "appointment_type"):
        rule: dict[str, Any] = {}
        if r.provider:
            rule["provider"] = r.provider.code
        if r.appointment_type:
            rule["appointment_type"] = r.appointment_type.code
        rule["max_extra"] = r.max_extra
        rules.append(rule)
    return sorted(rules, key=lambda r: (r.get("provider", ""), r.get("appointment_type", "")))


def _patients(clinic: Clinic) -> list[dict[str, Any]]:
    patients = []
    for p in (
        Patient.objects.filter(clinic=clinic)
        .order_by("code")
        .prefetch_related(Prefetch("preferred_providers", queryset=Provider.objects.only("code")))
    ):
        data: dict[str, Any] = {
            "code": p.code,
            "first_name": p.first_name,
            "last_name": p.last_name,
            "birth_date": p.birth_date.isoformat() if p.birth_date else None,
            "phone": p.phone,
            "email": p.email,
        }
        preferences: dict[str, Any] = {}
        if providers := _codes(p.preferred_providers.all()):
            preferences["providers"] = providers
        if p.preferred_days:
            preferences["days"] = [d for d in WEEKDAY_KEYS if d in p.preferred_days]
        if p.preferred_times:
            preferences["times"] = [list(t) for t in p.preferred_times]
        if preferences:
            data["preferences"] = preferences
        patients.append(data)
    return patients


def _appointments(clinic: Clinic, tz: ZoneInfo) -> list[dict[str, Any]]:
    appointments = []
    rows = (
        Appointment.objects.filter(clinic=clinic)
        .select_related("patient", "appointment_type", "provider", "room")
        .order_by("start", "provider__code", "patient__code", "pk")
    )
    for a in rows:
        data: dict[str, Any] = {
            "patient": a.patient.code,
            "appointment_type": a.appointment_type.code,
            "provider": a.provider.code,
            "room": a.room.code,
            "start": format_datetime(a.start, tz),
        }
        if a.end != a.start + dt.timedelta(minutes=a.appointment_type.duration_minutes):
            data["end"] = format_datetime(a.end, tz)
        data["status"] = a.status
        if a.seat > 0:
            data["overbook"] = True
        if a.cancelled_at:
            data["cancelled_at"] = format_datetime(a.cancelled_at, tz)
        if a.cancel_reason:
            data["cancel_reason"] = a.cancel_reason
        if a.note:
            data["note"] = a.note
        appointments.append(data)
    return appointments


def _waitlist(clinic: Clinic) -> list[dict[str, Any]]:
    entries = []
    rows = (
        WaitlistEntry.objects.filter(clinic=clinic)
        .select_related("patient", "appointment_type", "provider")
        .order_by("earliest", "latest", "patient__code", "appointment_type__code", "pk")
    )
    for w in rows:
        data: dict[str, Any] = {
            "patient": w.patient.code,
            "appointment_type": w.appointment_type.code,
            "provider": w.provider.code if w.provider else None,
            "earliest": w.earliest.isoformat(),
            "latest": w.latest.isoformat(),
            "note": w.note,
        }
        if w.status != "open":
            data["status"] = w.status
        entries.append(data)
    return entries
