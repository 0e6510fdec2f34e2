"""SMART Scheduling Links: the manifest, its NDJSON files, and the Slots' deep links into
the staff UI's find-and-book."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from clinic.models import OverbookingRule
from fhir.ids import BOOKING_DEEP_LINK, ROOM_EXTENSION
from fhir.tests.conftest import local
from fhir.tests.validation import valid
from scheduling import services

pytestmark = pytest.mark.django_db(transaction=True)


def ndjson(response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/fhir+ndjson")
    return [valid(json.loads(line)) for line in response.text.splitlines()]


def test_the_manifest_lists_locations_schedules_and_a_slot_file_per_type(fhir, small_clinic):
    response = fhir.get("$bulk-publish")
    assert response.status_code == 200
    manifest = response.json()
    assert manifest["request"].endswith("/fhir/$bulk-publish")
    moment = dt.datetime.fromisoformat(manifest["transactionTime"])
    assert abs(moment - timezone.now()) < dt.timedelta(minutes=1)
    assert [(o["type"], o["url"].rsplit("/", 1)[1]) for o in manifest["output"]] == [
        ("Location", "Location.ndjson"),
        ("Schedule", "Schedule.ndjson"),
        ("Slot", "Slot-consult.ndjson"),
        ("Slot", "Slot-ecg.ndjson"),
    ]
    assert manifest["error"] == []
    locations = ndjson(fhir.get(manifest["output"][0]["url"]))
    assert [r["id"] for r in locations] == ["Clinic", "r1", "r2", "r3"]
    schedules = ndjson(fhir.get(manifest["output"][1]["url"]))
    assert [r["id"] for r in schedules] == ["dr-a", "dr-b"]
    assert all(
        {"reference": "Location/Clinic"} == {"reference": a["reference"]}
        for s in schedules
        for a in s["actor"][1:]
    )


def test_slot_files_hold_four_weeks_of_free_regular_seats_with_deep_links(fhir, small_clinic, live_server):
    c = small_clinic
    OverbookingRule.objects.create(clinic=c["clinic"], max_extra=1)
    booked = services.appointment_book(
        clinic=c["clinic"],
        patient=c["patients"][0],
        appointment_type=c["consult"],
        provider=c["providers"][0],
        room=c["rooms"][0],
        start=local(c, "09:00"),
    )
    slots = ndjson(fhir.get("$bulk-publish/Slot-consult.ndjson"))
    assert slots and all(s["status"] == "free" and not s["overbooked"] for s in slots)
    tz = c["clinic"].tz
    today = timezone.now().astimezone(tz).date()
    days = {dt.datetime.fromisoformat(s["start"]).astimezone(tz).date() for s in slots}
    assert min(days) >= today and max(days) <= today + dt.timedelta(days=27)
    assert max(days) > today + dt.timedelta(days=20)  # the whole four weeks, not one
    assert local(c, "09:00").isoformat() not in {
        s["start"] for s in slots if s["schedule"]["reference"] == "Schedule/dr-a"
    }
    first = slots[0]
    assert first["extension"][0]["url"] == ROOM_EXTENSION
    link = next(e["valueUrl"] for e in first["extension"] if e["url"] == BOOKING_DEEP_LINK)
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == live_server.url and parts.path == "/book/"
    query = parse_qs(parts.query)
    start = dt.datetime.fromisoformat(first["start"])
    assert query == {
        "appointment_type": ["consult"],
        "provider": [first["schedule"]["reference"].split("/")[1]],
        "date_from": [start.date().isoformat()],
        "date_to": [start.date().isoformat()],
        "at": [f"{start:%H:%M}"],
    }
    assert booked.pk  # its time is not published


def test_the_deep_link_opens_find_and_book_on_that_slot(fhir, small_clinic, client, desk):
    slots = ndjson(fhir.get("$bulk-publish/Slot-consult.ndjson"))
    slot = next(s for s in slots if s["schedule"]["reference"] == "Schedule/dr-b")
    link = next(e["valueUrl"] for e in slot["extension"] if e["url"] == BOOKING_DEEP_LINK)
    client.force_login(desk)
    parts = urlsplit(link)
    page = client.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200
    start = dt.datetime.fromisoformat(slot["start"])
    # The slot offered first: the provider|room|start|seat value the page books with.
    room = slot["extension"][0]["valueReference"]["reference"].split("/")[1]
    assert f"dr-b|{room}|{start.astimezone(dt.UTC).isoformat()}|0" in page.content.decode()


def test_an_unknown_type_file_is_not_found(fhir, small_clinic):
    response = fhir.get("$bulk-publish/Slot-nothing.ndjson")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
