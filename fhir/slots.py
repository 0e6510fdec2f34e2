"""Slots: computed live by the engine (``scheduling.selectors.search_slots``), in its ranked
order, and read back one by one from their ids.

A page of Slots costs what the JSON API's slot search costs plus one query: the clinic's
providers, rooms and types with their database keys and names (``directory``), which the
Slots' ids and words need. Nothing is read per Slot.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from clinic.errors import BadRequest, NotFound
from clinic.models import AppointmentType, Clinic, Provider, Room
from clinic.rows import instance_from_json
from fhir import serialize
from fhir.door import TooCostly, caller_scope, fhir_response
from fhir.ids import SlotKey
from fhir.params import Range, Search, date_range, reference_code
from fhir.params import type_code as as_type_code
from scheduling import selectors
from scheduling.api import MAX_SEARCH_DAYS
from scheduling.engine import Slot
from scheduling.engine.calendar import local_date, local_midnight

# Without an end, a search covers a week from its first day (the front desk's default).
DEFAULT_DAYS = 7
DEFAULT_COUNT = 20

DIRECTORY_SQL = """
SELECT 'provider', id, code, name FROM clinic_provider WHERE clinic_id = %(clinic)s
UNION ALL
SELECT 'room', id, code, name FROM clinic_room WHERE clinic_id = %(clinic)s
UNION ALL
SELECT 'type', id, code, name FROM clinic_appointmenttype WHERE clinic_id = %(clinic)s
"""


def directory(clinic: Clinic) -> serialize.Directory:
    found: dict[str, dict[str, tuple[int, str]]] = {"provider": {}, "room": {}, "type": {}}
    with connection.cursor() as cursor:
        cursor.execute(DIRECTORY_SQL, {"clinic": clinic.pk})
        for kind, pk, code, name in cursor.fetchall():
            found[kind][code] = (pk, name)
    return serialize.Directory(providers=found["provider"], rooms=found["room"], types=found["type"])


# One query: the provider, room and type a Slot id names, each only within the clinic.
SLOT_OBJECTS_SQL = """
SELECT
  (SELECT row_to_json(t) FROM clinic_provider t WHERE t.clinic_id = %(clinic)s AND t.id = %(provider)s),
  (SELECT row_to_json(t) FROM clinic_room t WHERE t.clinic_id = %(clinic)s AND t.id = %(room)s),
  (SELECT row_to_json(t) FROM clinic_appointmenttype t WHERE t.clinic_id = %(clinic)s AND t.id = %(type)s)
"""


def slot_objects(clinic: Clinic, slot_id: str) -> tuple[SlotKey, Provider, Room, AppointmentType]:
    """What a Slot id names at this clinic, or ``not_found`` (a malformed id, or another
    clinic's provider, room or type, is a slot that does not exist)."""
    key = SlotKey.parse(slot_id)
    if key is None:
        raise NotFound(f"No slot with id {slot_id!r}.", field="slot")
    with connection.cursor() as cursor:
        cursor.execute(
            SLOT_OBJECTS_SQL,
            {"clinic": clinic.pk, "provider": key.provider_id, "room": key.room_id, "type": key.type_id},
        )
        provider, room, appointment_type = cursor.fetchone()
    if provider is None or room is None or appointment_type is None:
        raise NotFound(f"No slot with id {slot_id!r}.", field="slot")
    return (
        key,
        instance_from_json(Provider, provider),
        instance_from_json(Room, room),
        instance_from_json(AppointmentType, appointment_type),
    )


def _days(found: Range, clinic: Clinic, now: dt.datetime) -> tuple[dt.date, dt.date] | None:
    """The local dates the engine searches for a range of starts: from its first day (or
    today) to its last (or a week on); None when it holds no day from today on."""
    tz = clinic.tz
    today = local_date(now, tz)
    date_from = max(local_date(found.after, tz), today) if found.after else today
    if found.before is not None:
        date_to = local_date(found.before - dt.timedelta(microseconds=1), tz)
    else:
        date_to = date_from + dt.timedelta(days=DEFAULT_DAYS - 1)
    if date_to < date_from:
        return None
    if (date_to - date_from).days > MAX_SEARCH_DAYS:
        raise TooCostly(
            f"Search at most {MAX_SEARCH_DAYS} days of slots at once "
            f"(start=ge... and start=lt... at most {MAX_SEARCH_DAYS + 1} days apart)."
        )
    return date_from, date_to


def search(request: HttpRequest) -> HttpResponse:
    """``GET /fhir/Slot?service-type=<type>[&schedule=Schedule/<provider>][&start=ge..][&start=lt..]``"""
    clinic = caller_scope(request, "scheduling.view_appointment").clinic
    params = Search(request, ("service-type", "schedule", "start", "status"), default_count=DEFAULT_COUNT)
    given = params.one("service-type")
    if not given:
        raise BadRequest(
            "service-type is required: the appointment type's code (a HealthcareService's id), "
            "e.g. service-type=consult."
        )
    if len(given) > 1:
        raise BadRequest("Search the slots of one service-type at a time.")
    type_code = as_type_code(given[0])
    schedules = params.one("schedule")
    if schedules is not None and len(schedules) > 1:
        raise BadRequest("Search the slots of one schedule, or of all (leave schedule out).")
    provider_code = reference_code(schedules[0], "Schedule") if schedules else None
    statuses = params.one("status")
    starts = date_range(params, "start", clinic.tz)
    now = timezone.now()
    days = _days(starts, clinic, now)
    names = directory(clinic)
    nothing = (
        days is None
        or type_code not in names.types
        or (schedules is not None and provider_code not in names.providers)
        # Only free time is a Slot here: busy time is an Appointment.
        or (statuses is not None and "free" not in statuses)
    )
    if nothing or days is None or type_code is None:
        return fhir_response(params.bundle([], 0))
    date_from, date_to = days
    # The engine searches whole local days; a range that starts or ends inside a day is
    # narrowed to it here, and then every slot of those days is needed to count and page.
    whole_days = (starts.after is None or starts.after <= local_midnight(date_from, clinic.tz)) and (
        starts.before is None or starts.before >= local_midnight(date_to + dt.timedelta(days=1), clinic.tz)
    )
    result = selectors.search_slots(
        clinic=clinic,
        appointment_type_code=type_code,
        date_from=date_from,
        date_to=date_to,
        now=now,
        provider_code=provider_code,
        limit=max(1, params.offset + params.count) if whole_days else None,
    )
    found: list[Slot]
    if whole_days:
        found, total = list(result.slots), result.total
    else:
        found = [s for s in result.slots if starts.holds(s.start)]
        total = len(found)
    entries = [
        serialize.found_slot(s, type_code=type_code, clinic=clinic, directory=names)
        for s in params.window(found)
    ]
    return fhir_response(params.bundle(entries, total))


# Why the engine would not offer a slot, by what that makes of it: taken or out of reach
# now (busy), or never a slot at all (not found).
BUSY = frozenset({"no_overbooking_seat"})
UNAVAILABLE = frozenset(
    {"in_past", "min_notice", "beyond_horizon", "closure", "time_off", "overbooking_not_needed"}
)


def read(request: HttpRequest, slot_id: str) -> HttpResponse:
    """One Slot by id: ``free`` while it can be booked, ``busy`` once taken,
    ``busy-unavailable`` when out of reach (passed, a closure, time off); an id that is
    not a slot of the engine's (off its grid, outside the hours) is not found."""
    clinic = caller_scope(request, "scheduling.view_appointment").clinic
    key, provider, room, appointment_type = slot_objects(clinic, slot_id)
    verdict = selectors.slot_check(
        clinic=clinic,
        appointment_type=appointment_type,
        provider=provider,
        room=room,
        patient=None,
        start=key.start,
        overbook=key.seat > 0,
        now=timezone.now(),
    )
    if verdict.ok:
        status = "free"
    elif verdict.conflict or verdict.reason in BUSY:
        status = "busy"
    elif verdict.reason in UNAVAILABLE:
        status = "busy-unavailable"
    else:
        raise NotFound(f"No slot with id {slot_id!r}.")
    names = serialize.Directory(
        providers={provider.code: (provider.pk, provider.name)},
        rooms={room.code: (room.pk, room.name)},
        types={appointment_type.code: (appointment_type.pk, appointment_type.name)},
    )
    resource = serialize.slot(
        start=key.start,
        end=key.start + dt.timedelta(minutes=appointment_type.duration_minutes),
        provider=provider.code,
        room=room.code,
        seat=key.seat,
        type_code=appointment_type.code,
        clinic=clinic,
        directory=names,
        status=status,
    )
    return fhir_response(resource)
