"""A clinic's setup, kept in process memory while it is current.

The setup (providers and their hours and time off, rooms and equipment, appointment
types, overbooking rules, closures) changes a few times a week; it is read by every
search and every booking. Each process keeps the last setup it read per clinic, keyed by
``Clinic.setup_version``. Database triggers (clinic migration 0008) give the clinic a new
version, drawn from a sequence, in the same transaction as any change to its setup, and
the bookings query reads the version in the same statement as the bookings. So a search
uses a kept setup only when the database says it is still the current one: a setup is
never stale, whichever process or path (admin, API, bulk load, SQL) changed it.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection

from scheduling import engine

# The whole setup as one JSON document, with the version it belongs to, in one statement.
# Unfiltered: one entry serves every provider, room and date range of the clinic.
SETUP_SQL = """
SELECT c.setup_version, json_build_object(
  'providers', (
    SELECT coalesce(json_agg(json_build_array(p.id, p.code) ORDER BY p.code), '[]')
    FROM clinic_provider p WHERE p.clinic_id = c.id),
  'hours', (
    SELECT coalesce(json_agg(json_build_array(h.provider_id, h.weekday, h.start, h."end")), '[]')
    FROM clinic_workinghours h JOIN clinic_provider p ON p.id = h.provider_id
    WHERE p.clinic_id = c.id),
  'time_off', (
    SELECT coalesce(json_agg(json_build_array(t.provider_id, t.start, t."end") ORDER BY t.start), '[]')
    FROM clinic_timeoff t JOIN clinic_provider p ON p.id = t.provider_id
    WHERE p.clinic_id = c.id),
  'rooms', (
    SELECT coalesce(json_agg(json_build_array(r.id, r.code, (
        SELECT coalesce(json_agg(e.code), '[]')
        FROM clinic_room_equipment re JOIN clinic_equipment e ON e.id = re.equipment_id
        WHERE re.room_id = r.id)) ORDER BY r.code), '[]')
    FROM clinic_room r WHERE r.clinic_id = c.id),
  'types', (
    SELECT coalesce(json_agg(json_build_array(
        t.code, t.duration_minutes, t.buffer_before_minutes, t.buffer_after_minutes,
        (SELECT coalesce(json_agg(e.code), '[]')
         FROM clinic_appointmenttype_required_equipment te JOIN clinic_equipment e ON e.id = te.equipment_id
         WHERE te.appointmenttype_id = t.id),
        (SELECT coalesce(json_agg(p.code), '[]')
         FROM clinic_appointmenttype_providers tp JOIN clinic_provider p ON p.id = tp.provider_id
         WHERE tp.appointmenttype_id = t.id))), '[]')
    FROM clinic_appointmenttype t WHERE t.clinic_id = c.id),
  'rules', (
    SELECT coalesce(json_agg(json_build_array(o.max_extra, p.code, t.code)), '[]')
    FROM clinic_overbookingrule o
    LEFT JOIN clinic_provider p ON p.id = o.provider_id
    LEFT JOIN clinic_appointmenttype t ON t.id = o.appointment_type_id
    WHERE o.clinic_id = c.id),
  'closures', (
    SELECT coalesce(json_agg(d.date), '[]') FROM clinic_closure d WHERE d.clinic_id = c.id)
)
FROM clinic_clinic c
WHERE c.id = %(clinic)s
"""


@dataclass(frozen=True)
class ClinicSetup:
    """One version of a clinic's setup, as engine values. Shared between requests: never
    modified after it is built."""

    version: int
    # (primary key, spec without time off), by code.
    providers: tuple[tuple[int, engine.ProviderSpec], ...]
    # Each provider's time off, sorted by start.
    time_off: dict[int, tuple[engine.Interval, ...]]
    rooms: tuple[tuple[int, engine.RoomSpec], ...]
    appointment_types: dict[str, engine.AppointmentTypeSpec]
    overbooking_rules: tuple[engine.OverbookingRule, ...]
    closures: frozenset[dt.date]


_kept: dict[int, ClinicSetup] = {}
_lock = threading.Lock()


def clinic_setup(clinic_id: int, version: int) -> ClinicSetup:
    """The clinic's setup at ``version``, the version the caller just read from the
    database: the kept one when it is that version, else read now (and kept)."""
    kept = _kept.get(clinic_id)
    if kept is not None and kept.version == version:
        return kept
    setup = read_setup(clinic_id)
    with _lock:
        # Keep the newest: a slower reader must not replace a newer setup with an older one.
        current = _kept.get(clinic_id)
        if current is None or current.version < setup.version:
            _kept[clinic_id] = setup
    return setup


def forget() -> None:
    """Drop every kept setup (tests that compare cold and warm reads)."""
    _kept.clear()


def read_setup(clinic_id: int) -> ClinicSetup:
    with connection.cursor() as cursor:
        cursor.execute(SETUP_SQL, {"clinic": clinic_id})
        version, setup = cursor.fetchone()
    if isinstance(setup, str):  # Django leaves JSON unparsed for its own fields
        setup = json.loads(setup)
    weekly: dict[int, dict[int, list[tuple[dt.time, dt.time]]]] = defaultdict(lambda: defaultdict(list))
    for provider_id, weekday, start, end in setup["hours"]:
        weekly[provider_id][weekday].append((dt.time.fromisoformat(start), dt.time.fromisoformat(end)))
    off: dict[int, list[engine.Interval]] = defaultdict(list)
    for provider_id, start, end in setup["time_off"]:
        off[provider_id].append(
            engine.Interval(dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end))
        )
    return ClinicSetup(
        version=version,
        providers=tuple(
            (
                pk,
                engine.ProviderSpec(
                    code=code,
                    weekly_hours={day: tuple(sorted(windows)) for day, windows in weekly[pk].items()},
                ),
            )
            for pk, code in setup["providers"]
        ),
        time_off={pk: tuple(sorted(spans)) for pk, spans in off.items()},
        rooms=tuple(
            (pk, engine.RoomSpec(code=code, equipment=frozenset(equipment)))
            for pk, code, equipment in setup["rooms"]
        ),
        appointment_types={
            code: engine.AppointmentTypeSpec(
                code=code,
                duration_minutes=duration,
                buffer_before_minutes=before,
                buffer_after_minutes=after,
                required_equipment=frozenset(equipment),
                providers=frozenset(allowed),
            )
            for code, duration, before, after, equipment, allowed in setup["types"]
        },
        overbooking_rules=tuple(
            engine.OverbookingRule(max_extra=max_extra, provider=provider_code, appointment_type=type_code)
            for max_extra, provider_code, type_code in setup["rules"]
        ),
        closures=frozenset(dt.date.fromisoformat(day) for day in setup["closures"]),
    )
