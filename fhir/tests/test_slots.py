"""Slot search and read: the engine's slots in its ranked order, ids that book exactly
one slot, paging, and the errors of a search."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from django.utils import timezone

from clinic.models import Membership, OverbookingRule
from clinic.tests.factories import AppointmentTypeFactory, ClinicFactory, ProviderFactory, RoomFactory
from fhir.ids import APPOINTMENT_TYPE_SYSTEM, ROOM_EXTENSION, SlotKey
from fhir.tests.conftest import entries, issue_code, local, slot_search
from fhir.tests.validation import valid
from scheduling import services

pytestmark = pytest.mark.django_db(transaction=True)


def api_slots(live_server, token: str, **params) -> list[dict]:
    response = requests.get(
        f"{live_server.url}/api/v1/slots",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["slots"]


def test_slots_come_in_the_engines_ranked_order_as_the_json_api_gives_them(
    fhir, small_clinic, live_server, desk_token
):
    day = small_clinic["day"]
    c = small_clinic
    # Bookings that make the ranking interesting: compactness prefers the times next to them.
    for clock, provider in (("09:00", 0), ("14:00", 1)):
        services.appointment_book(
            clinic=c["clinic"],
            patient=c["patients"][provider],
            appointment_type=c["consult"],
            provider=c["providers"][provider],
            room=c["rooms"][provider],
            start=local(c, clock),
        )
    bundle = valid(slot_search(fhir, day, _count=200))
    slots = entries(bundle)
    api = api_slots(
        live_server, desk_token, appointment_type="consult", date_from=day, date_to=day, limit=200
    )
    assert bundle["total"] == len(api) == len(slots)
    assert [
        (s["start"], s["schedule"]["reference"], s["extension"][0]["valueReference"]["reference"])
        for s in slots
    ] == [(a["start"], f"Schedule/{a['provider']}", f"Location/{a['room']}") for a in api]
    first = slots[0]
    assert first["status"] == "free"
    assert first["overbooked"] is False
    assert first["serviceType"][0]["coding"][0] == {
        "system": APPOINTMENT_TYPE_SYSTEM,
        "code": "consult",
        "display": "Consultation",
    }
    assert first["extension"][0]["url"] == ROOM_EXTENSION
    assert first["start"].endswith(("+01:00", "+02:00"))  # Berlin's offset, not UTC
    assert "Consultation with" in first["comment"]


def test_one_schedule_narrows_to_its_provider(fhir, small_clinic):
    day = small_clinic["day"]
    slots = entries(slot_search(fhir, day, schedule="Schedule/dr-b", _count=100))
    assert slots and {s["schedule"]["reference"] for s in slots} == {"Schedule/dr-b"}
    assert entries(slot_search(fhir, day, schedule="dr-b", _count=100)) == slots
    assert slot_search(fhir, day, schedule="Schedule/nobody")["total"] == 0


def test_start_bounds_inside_a_day_narrow_to_those_times(fhir, small_clinic):
    day = small_clinic["day"]
    utc_from = local(small_clinic, "10:00").astimezone(dt.UTC)
    utc_to = local(small_clinic, "11:00").astimezone(dt.UTC)
    bundle = fhir.get(
        "Slot",
        {
            "service-type": "consult",
            "schedule": "Schedule/dr-a",
            "start": [f"ge{utc_from:%Y-%m-%dT%H:%M:%SZ}", f"lt{utc_to:%Y-%m-%dT%H:%M:%SZ}"],
        },
    ).json()
    starts = sorted(dt.datetime.fromisoformat(s["start"]) for s in entries(valid(bundle)))
    assert starts == [local(small_clinic, clock) for clock in ("10:00", "10:15", "10:30", "10:45")]
    assert bundle["total"] == 4
    # A whole day given as dates: its slots, and none of the next day's.
    whole = slot_search(fhir, day, schedule="Schedule/dr-a", _count=100)
    assert {dt.datetime.fromisoformat(s["start"]).date() for s in entries(whole)} == {day}


def test_paging_walks_every_slot_once_in_order(fhir, small_clinic):
    day = small_clinic["day"]
    everything = entries(slot_search(fhir, day, _count=1000))
    first = slot_search(fhir, day, _count=7)
    assert first["total"] == len(everything)
    seen = entries(first)
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert "previous" not in links and "_count=7" in links["self"]
    while "next" in links:
        page = valid(fhir.get(links["next"]).json())
        assert page["total"] == len(everything)
        seen += entries(page)
        links = {link["relation"]: link["url"] for link in page["link"]}
    assert [s["id"] for s in seen] == [s["id"] for s in everything]
    back = fhir.get(links["previous"]).json()
    assert entries(back) == everything[-7 - len(everything) % 7 : -(len(everything) % 7) or None][:7]


def test_the_token_forms_of_service_type(fhir, small_clinic):
    day = small_clinic["day"]
    plain = slot_search(fhir, day)["total"]
    assert plain > 0
    assert slot_search(fhir, day, **{"service-type": f"{APPOINTMENT_TYPE_SYSTEM}|consult"})["total"] == plain
    assert slot_search(fhir, day, **{"service-type": "|consult"})["total"] == plain
    assert slot_search(fhir, day, **{"service-type": "http://snomed.info/sct|consult"})["total"] == 0
    assert slot_search(fhir, day, **{"service-type": "nothing-like-it"})["total"] == 0
    assert slot_search(fhir, day, status="free")["total"] == plain
    assert slot_search(fhir, day, status="busy")["total"] == 0


def test_search_refusals(fhir, small_clinic):
    day = small_clinic["day"]
    missing = fhir.get("Slot", {"start": f"ge{day}"})
    assert missing.status_code == 400
    assert issue_code(valid(missing.json()) and missing) == "bad_request"
    assert "service-type" in missing.json()["issue"][0]["details"]["text"]
    too_long = fhir.get(
        "Slot", {"service-type": "consult", "start": [f"ge{day}", f"lt{day + dt.timedelta(days=40)}"]}
    )
    assert too_long.status_code == 400
    assert too_long.json()["issue"][0]["code"] == "too-costly"
    for start in ("ne2027-01-01", "ge2027-13-01", "tomorrow"):
        response = fhir.get("Slot", {"service-type": "consult", "start": start})
        assert response.status_code == 400, start
        valid(response.json())


def test_a_slot_id_reads_back_free_then_busy_once_booked(fhir, small_clinic):
    slot = entries(slot_search(fhir, small_clinic["day"], schedule="Schedule/dr-a"))[0]
    key = SlotKey.parse(slot["id"])
    assert key is not None and key.start == dt.datetime.fromisoformat(slot["start"])
    read = valid(fhir.get(f"Slot/{slot['id']}").json())
    assert read == slot
    c = small_clinic
    services.appointment_book(
        clinic=c["clinic"],
        patient=c["patients"][3],
        appointment_type=c["consult"],
        provider=c["providers"][0],
        room=c["rooms"][0],
        start=key.start,
    )
    assert valid(fhir.get(f"Slot/{slot['id']}").json())["status"] == "busy"


def test_overbooking_seats_are_overbooked_slots(fhir, small_clinic):
    c = small_clinic
    OverbookingRule.objects.create(clinic=c["clinic"], max_extra=1)
    services.appointment_book(
        clinic=c["clinic"],
        patient=c["patients"][0],
        appointment_type=c["consult"],
        provider=c["providers"][0],
        room=c["rooms"][0],
        start=local(c, "09:00"),
    )
    slots = entries(slot_search(fhir, c["day"], schedule="Schedule/dr-a", _count=1000))
    extra = [s for s in slots if s["overbooked"]]
    assert extra and all(s["id"].endswith("-1") for s in extra)
    assert slots[-len(extra) :] == extra  # regular seats first, as the engine ranks them


def test_unknown_malformed_or_other_clinics_slot_ids_are_not_found(fhir, small_clinic, desk):
    Membership.objects.create(user=desk, clinic=small_clinic["clinic"])
    hillside = ClinicFactory(code="hillside", name="Hillside")
    theirs = SlotKey(
        ProviderFactory(clinic=hillside).pk,
        RoomFactory(clinic=hillside).pk,
        AppointmentTypeFactory(clinic=hillside).pk,
        local(small_clinic, "09:00"),
        0,
    )
    ours = SlotKey(
        small_clinic["providers"][0].pk,
        small_clinic["rooms"][0].pk,
        small_clinic["consult"].pk,
        local(small_clinic, "09:07"),  # off the engine's grid
        0,
    )
    for slot_id in (theirs.id, ours.id, "abc", "1-2-3", "0-1-1-1-0"):
        response = fhir.get(f"Slot/{slot_id}")
        assert response.status_code == 404, slot_id
        assert issue_code(response) == "not_found"
    past = SlotKey(
        small_clinic["providers"][0].pk,
        small_clinic["rooms"][0].pk,
        small_clinic["consult"].pk,
        local(small_clinic, "09:00") - dt.timedelta(days=28),
        0,
    )
    assert past.start < timezone.now()
    assert valid(fhir.get(f"Slot/{past.id}").json())["status"] == "busy-unavailable"


def test_a_page_of_slots_costs_a_fixed_number_of_queries(
    client, small_clinic, desk_token, django_assert_max_num_queries
):
    day = small_clinic["day"]
    params = {"service-type": "consult", "start": [f"ge{day}", f"lt{day + dt.timedelta(days=5)}"]}
    auth = {"HTTP_AUTHORIZATION": f"Bearer {desk_token}"}
    # Token and permissions (1, plus the minute's last-used stamp), clinic (1), directory (1),
    # the engine's snapshot (2).
    with django_assert_max_num_queries(6):
        small = client.get("/fhir/Slot", {**params, "_count": 5}, **auth)
    with django_assert_max_num_queries(5):
        large = client.get("/fhir/Slot", {**params, "_count": 500}, **auth)
    assert small.status_code == large.status_code == 200
    assert len(large.json()["entry"]) > 100
