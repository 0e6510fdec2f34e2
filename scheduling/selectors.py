"""Read the database into engine inputs, in a fixed number of queries.

Nothing is cached: every answer reflects the database at the moment it is asked.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TypeVar

from django.db.models import F, Min, Model, Prefetch, Q, prefetch_related_objects
from django.db.models.functions import Coalesce

from clinic.errors import NotFound
from clinic.models import (
    WEEKDAY_KEYS,
    AppointmentType,
    Clinic,
    OverbookingRule,
    Patient,
    Provider,
    Room,
    TimeOff,
)
from scheduling import engine
from scheduling.engine.calendar import local_midnight
from scheduling.models import Appointment

M = TypeVar("M", bound=Model)


def _time(value: str) -> dt.time:
    return dt.time.fromisoformat(value)


def appointment_type_spec(appointment_type: AppointmentType) -> engine.AppointmentTypeSpec:
    """Expects ``required_equipment`` and ``providers`` prefetched (or costs two queries)."""
    return engine.AppointmentTypeSpec(
        code=appointment_type.code,
        duration_minutes=appointment_type.duration_minutes,
        buffer_before_minutes=appointment_type.buffer_before_minutes,
        buffer_after_minutes=appointment_type.buffer_after_minutes,
        required_equipment=frozenset(e.code for e in appointment_type.required_equipment.all()),
        providers=frozenset(p.code for p in appointment_type.providers.all()),
    )


def patient_preferences(patient: Patient | None) -> engine.PatientPreferences:
    """Expects ``preferred_providers`` prefetched."""
    if patient is None:
        return engine.PatientPreferences()
    return engine.PatientPreferences(
        providers=frozenset(p.code for p in patient.preferred_providers.all()),
        days=frozenset(WEEKDAY_KEYS.index(d) for d in patient.preferred_days if d in WEEKDAY_KEYS),
        times=tuple((_time(low), _time(high)) for low, high in patient.preferred_times),
    )


def clinic_snapshot(
    *,
    clinic: Clinic,
    date_from: dt.date,
    date_to: dt.date,
    now: dt.datetime,
    provider: Provider | None = None,
    room: Room | None = None,
    patient: Patient | None = None,
) -> engine.Snapshot:
    """The clinic as the engine needs it for ``date_from``..``date_to`` (local dates).

    ``provider`` narrows it to one provider. Checking one exact slot also passes ``room``
    and ``patient``: then only that room and the bookings that hold the provider, the
    room or the patient are read, all that check can depend on.

    Nine queries whatever the clinic's size or the range: providers with their hours and
    time off (three), rooms with equipment (two), bookings, overbooking rules, the
    shortest type, closures.
    """
    tz = clinic.tz
    # A day's windows and blocked ranges can reach a little past local midnight on
    # either side; a day of margin keeps every relevant booking in view.
    range_start = local_midnight(date_from - dt.timedelta(days=1), tz)
    range_end = local_midnight(date_to + dt.timedelta(days=2), tz)

    providers = Provider.objects.filter(clinic=clinic).order_by("code")
    if provider is not None:
        providers = providers.filter(pk=provider.pk)
    providers = providers.prefetch_related("working_hours").prefetch_related(
        _time_off_in(range_start, range_end)
    )
    provider_specs = tuple(
        engine.ProviderSpec(
            code=p.code,
            weekly_hours=_weekly_hours(p),
            time_off=tuple(
                engine.Interval(t.start, t.end)
                for t in p.time_off_in_range  # type: ignore[attr-defined]
            ),
        )
        for p in providers
    )
    room_rows = Room.objects.filter(clinic=clinic).order_by("code").prefetch_related("equipment")
    booking_rows = Appointment.objects.active().filter(
        clinic=clinic, blocked_start__lt=range_end, blocked_end__gt=range_start
    )
    if room is not None:
        room_rows = room_rows.filter(pk=room.pk)
        touching = Q(room=room)
        if provider is not None:
            touching |= Q(provider=provider)
        if patient is not None:
            touching |= Q(patient=patient)
        booking_rows = booking_rows.filter(touching)
    rooms = tuple(
        engine.RoomSpec(code=r.code, equipment=frozenset(e.code for e in r.equipment.all()))
        for r in room_rows
    )
    bookings = tuple(
        engine.Booking(
            id=row["id"],
            provider=row["provider__code"],
            room=row["room__code"],
            patient=row["patient__code"],
            start=row["start"],
            end=row["end"],
            blocked_start=row["blocked_start"],
            blocked_end=row["blocked_end"],
            seat=row["seat"],
        )
        for row in booking_rows.values(
            "id",
            "provider__code",
            "room__code",
            "patient__code",
            "start",
            "end",
            "blocked_start",
            "blocked_end",
            "seat",
        )
    )
    rules = tuple(
        engine.OverbookingRule(
            max_extra=row["max_extra"],
            provider=row["provider__code"],
            appointment_type=row["appointment_type__code"],
        )
        for row in OverbookingRule.objects.filter(clinic=clinic).values(
            "max_extra", "provider__code", "appointment_type__code"
        )
    )
    shortest = AppointmentType.objects.filter(clinic=clinic).aggregate(
        shortest=Coalesce(
            Min(F("buffer_before_minutes") + F("duration_minutes") + F("buffer_after_minutes")),
            clinic.slot_minutes,
        )
    )["shortest"]
    closures = frozenset(
        clinic.closures.filter(date__gte=date_from, date__lte=date_to).values_list("date", flat=True)
    )
    return engine.Snapshot(
        rules=engine.ClinicRules(
            tz=tz,
            slot_minutes=clinic.slot_minutes,
            min_notice_minutes=clinic.min_notice_minutes,
            booking_horizon_days=clinic.booking_horizon_days,
            weights=engine.Weights(
                preference=clinic.weight_preference,
                compactness=clinic.weight_compactness,
                room_switch=clinic.weight_room_switch,
                overbooking=clinic.weight_overbooking,
            ),
            closures=closures,
        ),
        providers=provider_specs,
        rooms=rooms,
        bookings=bookings,
        overbooking_rules=rules,
        shortest_type_minutes=int(shortest),
        now=now,
    )


def _time_off_in(start: dt.datetime, end: dt.datetime) -> Prefetch:
    return Prefetch(
        "time_off",
        queryset=TimeOff.objects.filter(start__lt=end, end__gt=start).order_by("start"),
        to_attr="time_off_in_range",
    )


def _weekly_hours(provider: Provider) -> dict[int, tuple[tuple[dt.time, dt.time], ...]]:
    hours: dict[int, list[tuple[dt.time, dt.time]]] = defaultdict(list)
    for window in provider.working_hours.all():
        hours[window.weekday].append((window.start, window.end))
    return {weekday: tuple(sorted(windows)) for weekday, windows in hours.items()}


def get_by_code(model: type[M], clinic: Clinic, code: str, field: str) -> M:
    """A clinic object by its code, or a `not_found` naming the field."""
    obj = model._default_manager.filter(clinic=clinic, code=code).first()
    if obj is None:
        raise NotFound(f"No {model._meta.verbose_name} with code {code!r}.", field=field)
    return obj


def with_rules(appointment_type: AppointmentType) -> AppointmentType:
    """Load what the engine needs of a type onto it (nothing when already loaded)."""
    prefetch_related_objects([appointment_type], "required_equipment", "providers")
    return appointment_type


def with_preferences(patient: Patient) -> Patient:
    prefetch_related_objects([patient], "preferred_providers")
    return patient


def appointment_type_with_rules(clinic: Clinic, code: str) -> AppointmentType:
    obj = (
        AppointmentType.objects.filter(clinic=clinic, code=code)
        .prefetch_related("required_equipment", "providers")
        .first()
    )
    if obj is None:
        raise NotFound(f"No appointment type with code {code!r}.", field="appointment_type")
    return obj


def patient_with_preferences(clinic: Clinic, code: str, field: str = "patient") -> Patient:
    obj = Patient.objects.filter(clinic=clinic, code=code).prefetch_related("preferred_providers").first()
    if obj is None:
        raise NotFound(f"No patient with code {code!r}.", field=field)
    return obj


def slot_query(
    *,
    appointment_type: AppointmentType,
    date_from: dt.date,
    date_to: dt.date,
    provider: Provider | None = None,
    patient: Patient | None = None,
    include_overbooking: bool = True,
) -> engine.SlotQuery:
    return engine.SlotQuery(
        appointment_type=appointment_type_spec(appointment_type),
        date_from=date_from,
        date_to=date_to,
        provider=provider.code if provider else None,
        patient=patient.code if patient else None,
        preferences=patient_preferences(patient),
        include_overbooking=include_overbooking,
    )


def search_slots(
    *,
    clinic: Clinic,
    appointment_type_code: str,
    date_from: dt.date,
    date_to: dt.date,
    now: dt.datetime,
    provider_code: str | None = None,
    patient_code: str | None = None,
    include_overbooking: bool = True,
    limit: int | None = None,
) -> engine.SearchResult:
    """Ranked slots for a type over local dates, straight from the database."""
    appointment_type = appointment_type_with_rules(clinic, appointment_type_code)
    provider = get_by_code(Provider, clinic, provider_code, "provider") if provider_code else None
    patient = patient_with_preferences(clinic, patient_code) if patient_code else None
    snapshot = clinic_snapshot(
        clinic=clinic, date_from=date_from, date_to=date_to, now=now, provider=provider
    )
    query = slot_query(
        appointment_type=appointment_type,
        date_from=date_from,
        date_to=date_to,
        provider=provider,
        patient=patient,
        include_overbooking=include_overbooking,
    )
    return engine.find_slots(snapshot, query, limit=limit)
