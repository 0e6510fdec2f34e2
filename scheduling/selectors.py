"""Read the database into engine inputs, in a fixed number of light queries.

Nothing is cached: every answer reflects the database at the moment it is asked. Rows
are read as plain values (no model instances, no prefetch machinery), because on a
busy month the ORM's per-object cost, not PostgreSQL, is what a search would wait on.
"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Model, Q

from clinic.errors import NotFound
from clinic.models import (
    WEEKDAY_KEYS,
    AppointmentType,
    Clinic,
    Patient,
    Provider,
    Room,
)
from clinic.rows import instance_from_json
from scheduling import engine, setup_cache
from scheduling.engine.calendar import local_midnight
from scheduling.models import Appointment, AppointmentStatus

M = TypeVar("M", bound=Model)


def _codes(relation: str) -> ArrayAgg:
    """The related objects' codes as one array column (empty, not NULL, when none)."""
    present = Q(**{f"{relation}__isnull": False})
    return ArrayAgg(f"{relation}__code", distinct=True, filter=present, default=[])


# Active bookings in range, each row an engine.Booking field for field, and first the
# clinic's setup version (in the row without a provider), in one statement: the setup kept
# in memory for that version (scheduling.setup_cache) is then used without another round
# trip. Checking one exact slot passes a room: then only the bookings holding that room,
# the provider or the patient matter. Instants travel as microseconds since the epoch, as
# the engine's bookings hold them: an integer parses in C, a timestamp in the driver's
# Python, and a month of a large clinic is tens of thousands of rows. Hand-written: this is
# the hot path of every search and every booking, and building ORM querysets cost more
# than PostgreSQL's answer.
BOOKINGS_SQL = """
SELECT NULL, NULL, NULL, c.setup_version,
       NULL::bigint, NULL::bigint, NULL::bigint, NULL::smallint, NULL::bigint
FROM clinic_clinic c WHERE c.id = %(clinic)s
UNION ALL
SELECT p.code, r.code, pt.code,
       (EXTRACT(EPOCH FROM a.start) * 1000000)::bigint,
       (EXTRACT(EPOCH FROM a."end") * 1000000)::bigint,
       (EXTRACT(EPOCH FROM a.blocked_start) * 1000000)::bigint,
       (EXTRACT(EPOCH FROM a.blocked_end) * 1000000)::bigint,
       a.seat, a.id
FROM scheduling_appointment a
JOIN clinic_provider p ON p.id = a.provider_id
JOIN clinic_room r ON r.id = a.room_id
JOIN clinic_patient pt ON pt.id = a.patient_id
WHERE a.clinic_id = %(clinic)s
  AND a.status IN ('booked', 'confirmed', 'checked_in')
  AND a.blocked_start < %(range_end)s AND a.blocked_end > %(range_start)s
  AND (%(room)s::bigint IS NULL
       OR a.room_id = %(room)s::bigint OR a.provider_id = %(provider)s::bigint
       OR a.patient_id = %(patient)s::bigint)
"""


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

    One query whatever the clinic's size or the range: the bookings, with the version of
    the clinic's setup (providers, hours, time off, rooms and equipment, types, overbooking
    rules, closures), which comes from memory while that version is current and costs a
    second query when it is not. ``provider`` narrows it to one provider. Checking one
    exact slot also passes ``room`` and ``patient``: then only that room and the bookings
    that hold the provider, the room or the patient are read, all that check can depend on.
    """
    tz = clinic.tz
    # A day's windows and blocked ranges can reach a little past local midnight on either
    # side; a day of margin keeps every relevant booking in view.
    range_start = local_midnight(date_from - dt.timedelta(days=1), tz)
    range_end = local_midnight(date_to + dt.timedelta(days=2), tz)
    params = {
        "clinic": clinic.pk,
        "provider": provider.pk if provider else None,
        "room": room.pk if room else None,
        "patient": patient.pk if patient else None,
        "range_start": range_start,
        "range_end": range_end,
    }
    with connection.cursor() as cursor:
        cursor.execute(BOOKINGS_SQL, params)
        rows = cursor.fetchall()
    version = next(row[3] for row in rows if row[0] is None)
    setup = setup_cache.clinic_setup(clinic.pk, version)

    providers = []
    for pk, spec in setup.providers:
        if provider is not None and pk != provider.pk:
            continue
        off = tuple(t for t in setup.time_off.get(pk, ()) if t.start < range_end and t.end > range_start)
        providers.append(replace(spec, time_off=off) if off else spec)
    types = setup.appointment_types
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
            closures=setup.closures,
        ),
        providers=tuple(providers),
        rooms=tuple(spec for pk, spec in setup.rooms if room is None or pk == room.pk),
        bookings=tuple(map(engine.Booking._make, filter(operator.itemgetter(0), rows))),
        overbooking_rules=setup.overbooking_rules,
        appointment_types=types,
        shortest_type_minutes=min((t.blocked_minutes for t in types.values()), default=clinic.slot_minutes),
        now=now,
    )


def patient_preferences(clinic: Clinic, code: str, field: str = "patient") -> engine.PatientPreferences:
    """The patient's stated preferences, or `not_found` when there is no such patient."""
    row = (
        Patient.objects.filter(clinic=clinic, code=code)
        .annotate(provider_codes=_codes("preferred_providers"))
        .values_list("provider_codes", "preferred_days", "preferred_times")
        .first()
    )
    if row is None:
        raise NotFound(f"No patient with code {code!r}.", field=field)
    provider_codes, days, times = row
    return engine.PatientPreferences(
        providers=frozenset(provider_codes),
        days=frozenset(WEEKDAY_KEYS.index(d) for d in days if d in WEEKDAY_KEYS),
        times=tuple((dt.time.fromisoformat(low), dt.time.fromisoformat(high)) for low, high in times),
    )


def get_by_code(model: type[M], clinic: Clinic, code: str, field: str) -> M:
    """A clinic object by its code, or a `not_found` naming the field."""
    found: M = by_codes(clinic, **{field: (model, code)})[field]
    return found


def by_codes(clinic: Clinic, **wanted: tuple[type[Model], str]) -> dict[str, Any]:
    """Several of the clinic's objects by code in one query, e.g.
    ``by_codes(clinic, patient=(Patient, "p-1"), room=(Room, "r1"))``; a missing one is a
    `not_found` naming its field. A booking names four objects; fetching them one by one
    cost four round trips on the busiest path there is."""
    columns: list[str] = []
    params: dict[str, Any] = {"clinic": clinic.pk}
    for i, (model, code) in enumerate(wanted.values()):
        # Only the table name is formatted in, and it comes from the model, never a request.
        table = connection.ops.quote_name(model._meta.db_table)
        columns.append(
            f"(SELECT row_to_json(t) FROM {table} t WHERE t.clinic_id = %(clinic)s AND t.code = %(c{i})s)"  # noqa: S608
        )
        params[f"c{i}"] = code
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(columns), params)
        rows = cursor.fetchone()
    found: dict[str, Any] = {}
    for (field, (model, code)), row in zip(wanted.items(), rows, strict=True):
        if row is None:
            raise NotFound(f"No {model._meta.verbose_name} with code {code!r}.", field=field)
        found[field] = instance_from_json(model, row)
    return found


def type_spec(snapshot: engine.Snapshot, code: str) -> engine.AppointmentTypeSpec:
    spec = snapshot.appointment_types.get(code)
    if spec is None:
        raise NotFound(f"No appointment type with code {code!r}.", field="appointment_type")
    return spec


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
    provider = get_by_code(Provider, clinic, provider_code, "provider") if provider_code else None
    preferences = patient_preferences(clinic, patient_code) if patient_code else engine.PatientPreferences()
    snapshot = clinic_snapshot(
        clinic=clinic, date_from=date_from, date_to=date_to, now=now, provider=provider
    )
    query = engine.SlotQuery(
        appointment_type=type_spec(snapshot, appointment_type_code),
        date_from=date_from,
        date_to=date_to,
        provider=provider_code,
        patient=patient_code,
        preferences=preferences,
        include_overbooking=include_overbooking,
    )
    return engine.find_slots(snapshot, query, limit=limit)


def slot_check(
    *,
    clinic: Clinic,
    appointment_type: AppointmentType,
    provider: Provider,
    room: Room,
    patient: Patient | None,
    start: dt.datetime,
    overbook: bool,
    now: dt.datetime,
) -> engine.Verdict:
    """The engine's verdict on one exact slot, read fresh (the caller's transaction).
    Without a patient, the verdict on the slot alone: whoever books it must still be free."""
    day = start.astimezone(clinic.tz).date()
    snapshot = clinic_snapshot(
        clinic=clinic, date_from=day, date_to=day, now=now, provider=provider, room=room, patient=patient
    )
    query = engine.SlotQuery(
        appointment_type=type_spec(snapshot, appointment_type.code),
        date_from=day,
        date_to=day,
        provider=provider.code,
        patient=patient.code if patient else None,
    )
    return engine.check_slot(
        snapshot, query, provider=provider.code, room=room.code, start=start, overbook=overbook
    )


# --- The day board -----------------------------------------------------------------------

# What the board shows of a day: everything but cancellations, which free their time.
BOARD_STATUSES = [s for s in AppointmentStatus.values if s != AppointmentStatus.CANCELLED]


@dataclass(frozen=True)
class DayBoard:
    snapshot: engine.Snapshot
    appointments: list[Appointment]
    names: dict[str, str]  # "provider:<code>" and "room:<code>" to the names people read
    type_codes: list[str]


def day_board(
    *, clinic: Clinic, day: dt.date, now: dt.datetime, provider: Provider | None = None
) -> DayBoard:
    """One local day as the staff see it: the engine's snapshot (hours, time off,
    closures, rooms), the day's appointments with their patient, type, provider and room,
    and the names of the clinic's providers and rooms. Four queries. ``provider`` narrows
    it to that provider's column and appointments (a clinician's own)."""
    snapshot = clinic_snapshot(clinic=clinic, date_from=day, date_to=day, now=now, provider=provider)
    mine = {"provider": provider} if provider is not None else {}
    appointments = list(
        Appointment.objects.filter(
            **mine,
            clinic=clinic,
            status__in=BOARD_STATUSES,
            start__lt=local_midnight(day + dt.timedelta(days=1), clinic.tz),
            end__gt=local_midnight(day, clinic.tz),
        )
        .select_related("patient", "appointment_type", "provider", "room")
        .order_by("start", "seat", "pk")
    )
    with connection.cursor() as cursor:
        cursor.execute(NAMES_SQL, {"clinic": clinic.pk})
        names = dict(cursor.fetchall())
    return DayBoard(
        snapshot=snapshot,
        appointments=appointments,
        names=names,
        type_codes=sorted(snapshot.appointment_types),
    )


NAMES_SQL = """
SELECT 'provider:' || code, name FROM clinic_provider WHERE clinic_id = %(clinic)s
UNION ALL
SELECT 'room:' || code, name FROM clinic_room WHERE clinic_id = %(clinic)s
"""
