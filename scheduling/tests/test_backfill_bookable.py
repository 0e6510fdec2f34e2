"""Backfill candidates are bookable: each passes the engine's check for the freed slot and
that patient, as their booking would at that moment, and an empty answer says why
(issue 14, item 1)."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic.models import Closure, OverbookingRule, TimeOff, WorkingHours
from clinic.tests.factories import EquipmentFactory

from .test_api_appointments import booking, local

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(small_clinic, call):
    """p-1 holds dr-a's 09:00 consult in r1; p-3 waits for a consult that day."""
    day = str(small_clinic["day"])
    entry = {"patient": "p-3", "appointment_type": "consult", "earliest": day, "latest": day}
    assert call("post", "/api/v1/waitlist", entry).status_code == 201
    first = call("post", "/api/v1/appointments", booking(small_clinic))
    assert first.status_code == 201
    return first.json()


def cancel(call, appointment_id: int) -> dict:
    response = call("post", f"/api/v1/appointments/{appointment_id}/cancel", {"reason": "ill"})
    assert response.status_code == 200, response.content
    return response.json()


def test_a_bookable_freed_slot_offers_its_candidates_without_a_note(small_clinic, call, waiting):
    body = cancel(call, waiting["id"])

    assert [c["patient"] for c in body["backfill"]] == ["p-3"]
    assert body["backfill_note"] is None


def _min_notice(small_clinic):
    clinic = small_clinic["clinic"]
    clinic.min_notice_minutes = 60 * 24 * 30  # the freed time is now inside the notice
    clinic.save()


def _time_off(small_clinic):
    start = dt.datetime.fromisoformat(local(small_clinic, "08:45"))
    TimeOff.objects.create(
        provider=small_clinic["providers"][0], start=start, end=start + dt.timedelta(hours=1)
    )


def _closure(small_clinic):
    Closure.objects.create(clinic=small_clinic["clinic"], date=small_clinic["day"], reason="Flood")


def _hours(small_clinic):
    WorkingHours.objects.filter(provider=small_clinic["providers"][0], weekday=0, start=dt.time(8)).update(
        start=dt.time(10)
    )


def _buffers(small_clinic, call):
    # dr-a's 08:30 consult ends where the freed one starts; a buffer now keeps them apart.
    assert (
        call("post", "/api/v1/appointments", booking(small_clinic, patient="p-9", clock="08:30")).status_code
        == 201
    )
    consult = small_clinic["consult"]
    consult.buffer_before_minutes = 15
    consult.save()


def _equipment(small_clinic):
    consult = small_clinic["consult"]
    consult.required_equipment.add(EquipmentFactory(clinic=small_clinic["clinic"], code="scale"))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        pytest.param(_min_notice, "notice", id="min-notice"),
        pytest.param(_time_off, "off", id="time-off"),
        pytest.param(_closure, "closed", id="closure"),
        pytest.param(_hours, "does not work", id="hours"),
        pytest.param(_buffers, "booked", id="buffers"),
        pytest.param(_equipment, "equipment", id="equipment"),
    ],
)
def test_a_freed_slot_the_engine_would_refuse_offers_nobody_and_says_why(
    small_clinic, call, waiting, change, words
):
    if change is _buffers:
        change(small_clinic, call)
    else:
        change(small_clinic)

    body = cancel(call, waiting["id"])

    assert body["backfill"] == []
    assert body["backfill_note"].startswith("Nobody can be offered this time:")
    assert words in body["backfill_note"]


def test_a_candidate_busy_elsewhere_in_the_clinic_is_skipped_for_the_next(small_clinic, call, waiting):
    day = str(small_clinic["day"])
    call(
        "post",
        "/api/v1/waitlist",
        {"patient": "p-4", "appointment_type": "consult", "earliest": day, "latest": day},
    )
    busy = booking(small_clinic, patient="p-3", clock="09:15", provider="dr-b", room="r2")
    assert call("post", "/api/v1/appointments", busy).status_code == 201

    body = cancel(call, waiting["id"])

    assert [(c["patient"], c["rank"]) for c in body["backfill"]] == [("p-4", 1)]


def test_nobody_waiting_is_said_plainly(small_clinic, call):
    first = call("post", "/api/v1/appointments", booking(small_clinic)).json()

    body = cancel(call, first["id"])

    assert body["backfill"] == []
    assert body["backfill_note"] == "Nobody on the waitlist or among recent cancellations fits this time."


def test_a_small_move_frees_nothing_and_says_so(small_clinic, call, waiting):
    moved = call(
        "post", f"/api/v1/appointments/{waiting['id']}/reschedule", {"start": local(small_clinic, "09:15")}
    ).json()

    assert moved["backfill"] == []
    assert "already booked" in moved["backfill_note"]


def test_every_candidate_books_the_offered_slot_with_one_request(small_clinic, call, waiting):
    OverbookingRule.objects.create(clinic=small_clinic["clinic"], max_extra=1)
    extra = call(
        "post", "/api/v1/appointments", booking(small_clinic, patient="p-2", room="r2", overbook=True)
    )
    assert extra.json()["overbook"] is True
    cancel(call, waiting["id"])  # the regular seat is free again

    # The freed overbooking seat is offered as the regular seat it can now be booked as.
    body = cancel(call, extra.json()["id"])
    # p-1 cancelled a consult a moment ago and holds none: a recent cancellation.
    assert [c["patient"] for c in body["backfill"]] == ["p-3", "p-1"]
    assert {c["slot"]["overbook"] for c in body["backfill"]} == {False}
    slot = body["backfill"][0]["slot"]
    rebooked = call(
        "post",
        "/api/v1/appointments",
        {
            "patient": "p-3",
            "appointment_type": "consult",
            "provider": slot["provider"],
            "room": slot["room"],
            "start": slot["start"],
            "overbook": slot["overbook"],
            "backfill_of": extra.json()["id"],
        },
    )
    assert rebooked.status_code == 201, rebooked.content
