"""SMART Scheduling Links publishing: ``GET /fhir/$bulk-publish`` and its NDJSON files.

The manifest lists the clinic's Locations (the clinic and its rooms), its Schedules (one
per provider) and one file of free Slots per appointment type, for the next four weeks.
Each file is computed when it is asked for, so each Slot file is one engine search (one
type, 28 days, all providers) whatever the clinic's size; its lines are written as they
are sent. Published Slots are regular seats only: an overbooking seat is the front
desk's call, not an appointment finder's. Each carries a booking deep link to the staff
UI's find-and-book, opened on that type, provider, day and time.

The files are authenticated like every other FHIR request (the SMART specification
expects them public; publishing to appointment finders without a token is a decision
this server leaves to a later change).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import orjson
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from clinic.errors import NotFound
from clinic.models import AppointmentType
from fhir import directory, serialize
from fhir.door import FHIR_NDJSON, base_url, caller_scope
from fhir.ids import code_id, id_code
from fhir.slots import directory as names_of
from scheduling import selectors
from scheduling.engine.calendar import local_date

PUBLISHED_DAYS = 28
# Lines per chunk written to the client.
CHUNK = 500


def _clinic_query(request: HttpRequest) -> str:
    code = request.GET.get("clinic")
    return f"?{urlencode({'clinic': code})}" if code else ""


def manifest(request: HttpRequest) -> HttpResponse:
    clinic = caller_scope(request, "scheduling.view_appointment").clinic
    base = f"{base_url(request)}/$bulk-publish"
    query = _clinic_query(request)
    types = AppointmentType.objects.filter(clinic=clinic).order_by("code").values_list("code", flat=True)
    output = [
        {"type": "Location", "url": f"{base}/Location.ndjson{query}"},
        {"type": "Schedule", "url": f"{base}/Schedule.ndjson{query}"},
    ] + [{"type": "Slot", "url": f"{base}/Slot-{code_id(code)}.ndjson{query}"} for code in types]
    body = {
        "transactionTime": f"{timezone.now().astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}",
        "request": request.build_absolute_uri(),
        "output": output,
        "error": [],
    }
    return JsonResponse(body)


def _ndjson(resources: Iterator[dict[str, Any]]) -> StreamingHttpResponse:
    def lines() -> Iterator[bytes]:
        chunk: list[bytes] = []
        for resource in resources:
            chunk.append(orjson.dumps(resource))
            if len(chunk) == CHUNK:
                yield b"\n".join(chunk) + b"\n"
                chunk = []
        if chunk:
            yield b"\n".join(chunk) + b"\n"

    return StreamingHttpResponse(lines(), content_type=FHIR_NDJSON)


def locations(request: HttpRequest) -> StreamingHttpResponse:
    clinic, rooms = directory.rooms_of(request)
    room = directory.room_writer(clinic)
    return _ndjson(iter([serialize.clinic_location(clinic)] + [room(r) for r in rooms]))


def schedules(request: HttpRequest) -> StreamingHttpResponse:
    _, providers, one = directory.schedules_of(request)
    return _ndjson(iter([one(p) for p in providers]))


def slots(request: HttpRequest, type_id: str) -> StreamingHttpResponse:
    """The free regular Slots of one type over the next four weeks, ranked as the
    engine ranks them, each with its booking deep link."""
    clinic = caller_scope(request, "scheduling.view_appointment").clinic
    names = names_of(clinic)
    type_code = id_code(type_id)
    if type_code not in names.types:
        raise NotFound(f"No appointment type with id {type_id!r}.")
    now = timezone.now()
    today = local_date(now, clinic.tz)
    result = selectors.search_slots(
        clinic=clinic,
        appointment_type_code=type_code,
        date_from=today,
        date_to=today + dt.timedelta(days=PUBLISHED_DAYS - 1),
        now=now,
        include_overbooking=False,
    )
    find = request.build_absolute_uri(reverse("desk:find"))
    tz = clinic.tz

    def link(provider: str, start: dt.datetime) -> str:
        local = start.astimezone(tz)
        day = local.date().isoformat()
        query = {"appointment_type": type_code, "provider": provider, "date_from": day, "date_to": day}
        return f"{find}?{urlencode(query)}&at={local:%H:%M}"

    return _ndjson(
        serialize.found_slot(
            found,
            type_code=type_code,
            clinic=clinic,
            directory=names,
            deep_link=link(found.provider, found.start),
        )
        for found in result.slots
    )
