"""The booking lifecycle through the JSON API, against real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic.models import ApiToken
from notifications.models import OutboxEvent
from scheduling.models import Appointment, AppointmentHistory, WaitlistEntry

from .conftest import make_user

pytestmark = pytest.mark.django_db


def local(small_clinic, clock: str, day: dt.date | None = None) -> str:
    day = day or small_clinic["day"]
    return dt.datetime.combine(
        day, dt.time.fromisoformat(clock), tzinfo=small_clinic["clinic"].tz
    ).isoformat()


def booking(small_clinic, patient="p-1", clock="09:00", **extra):
    return {
        "patient": patient,
        "appointment_type": "consult",
        "provider": "dr-a",
        "room": "r1",
        "start": local(small_clinic, clock),
        **extra,
    }


def test_book_returns_the_appointment(small_clinic, call):
    response = call("post", "/api/v1/appointments", booking(small_clinic, note="first visit"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "booked" and body["overbook"] is False
    assert body["start"] == local(small_clinic, "09:00")
    assert body["end"] == local(small_clinic, "09:30")
    assert body["created_by"] == "frontdesk1" and body["note"] == "first visit"
    assert OutboxEvent.objects.filter(event_type="appointment.booked", appointment_id=body["id"]).exists()
    assert AppointmentHistory.objects.filter(appointment_id=body["id"], action="booked").exists()


@pytest.mark.parametrize(
    ("second", "conflict"),
    [
        ({"patient": "p-2", "room": "r2"}, "provider"),
        ({"patient": "p-2", "provider": "dr-b"}, "room"),
        ({"provider": "dr-b", "room": "r2"}, "patient"),
        ({"patient": "p-2", "room": "r2", "clock": "09:15"}, "provider"),
    ],
)
def test_taken_slot_is_409_naming_the_conflict(small_clinic, call, second, conflict):
    assert call("post", "/api/v1/appointments", booking(small_clinic)).status_code == 201
    clock = second.pop("clock", "09:00")
    response = call("post", "/api/v1/appointments", booking(small_clinic, clock=clock, **second))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "slot_taken"
    assert response.json()["error"]["details"]["conflict"] == conflict


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"start": "07:00"}, "outside_working_hours"),
        ({"start": "12:15"}, "in_break"),
        ({"start": "09:05"}, "off_grid"),
        ({"appointment_type": "ecg"}, "room_lacks_equipment"),
        ({"overbook": True}, "overbooking_not_needed"),
    ],
)
def test_unofferable_time_is_422_with_reason(small_clinic, call, change, reason):
    body = booking(small_clinic)
    if "start" in change:
        body["start"] = local(small_clinic, change.pop("start"))
    body.update(change)
    response = call("post", "/api/v1/appointments", body)
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "slot_unavailable"
    assert response.json()["error"]["details"]["reason"] == reason


def test_past_time_is_refused(small_clinic, call):
    body = booking(small_clinic)
    body["start"] = "2020-03-02T09:00:00+01:00"
    assert call("post", "/api/v1/appointments", body).json()["error"]["details"]["reason"] == "in_past"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("not json", 400, "bad_request"),
        ([1, 2], 400, "bad_request"),
        ({"patient": "p-1"}, 422, "validation_error"),
        (
            {"patient": 5, "appointment_type": "consult", "provider": "dr-a", "room": "r1", "start": "x"},
            422,
            "validation_error",
        ),
        (
            {
                "patient": "p-1",
                "appointment_type": "consult",
                "provider": "dr-a",
                "room": "r1",
                "start": "2027-03-08T09:00:00",
            },
            422,
            "validation_error",
        ),
        (
            {
                "patient": "p-1",
                "appointment_type": "consult",
                "provider": "dr-a",
                "room": "r1",
                "start": "tomorrow",
            },
            422,
            "validation_error",
        ),
        (
            {
                "patient": "p-404",
                "appointment_type": "consult",
                "provider": "dr-a",
                "room": "r1",
                "start": "2027-03-08T09:00:00Z",
            },
            404,
            "not_found",
        ),
        (
            {
                "patient": "p-1",
                "appointment_type": "nope",
                "provider": "dr-a",
                "room": "r1",
                "start": "2027-03-08T09:00:00Z",
            },
            404,
            "not_found",
        ),
        (
            {
                "patient": "p-1",
                "appointment_type": "consult",
                "provider": "dr-a",
                "room": "r1" * 100,
                "start": "2027-03-08T09:00:00Z",
            },
            422,
            "validation_error",
        ),
    ],
)
def test_bad_input_gets_the_envelope(small_clinic, client, desk_token, body, status, code):
    import json

    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post(
        "/api/v1/appointments",
        data=data,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {desk_token}",
    )
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert Appointment.objects.count() == 0


def test_wrong_content_type_is_400(small_clinic, client, desk_token):
    response = client.post(
        "/api/v1/appointments",
        data="patient=p-1",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Bearer {desk_token}",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_clinician_may_not_book(small_clinic, call, django_user_model):
    token = ApiToken.issue(make_user(django_user_model, "doc", "clinician"))[1]
    response = call("post", "/api/v1/appointments", booking(small_clinic), token=token)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_idempotency_key_replays_the_first_answer(small_clinic, call):
    first = call("post", "/api/v1/appointments", booking(small_clinic), HTTP_IDEMPOTENCY_KEY="abc-1")
    again = call("post", "/api/v1/appointments", booking(small_clinic), HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Appointment.objects.count() == 1
    other = call(
        "post",
        "/api/v1/appointments",
        booking(small_clinic, patient="p-2", clock="10:00"),
        HTTP_IDEMPOTENCY_KEY="abc-1",
    )
    assert other.status_code == 422
    assert Appointment.objects.count() == 1


def test_status_transitions(small_clinic, call):
    appointment_id = call("post", "/api/v1/appointments", booking(small_clinic)).json()["id"]
    path = f"/api/v1/appointments/{appointment_id}"
    assert call("post", f"{path}/complete").json()["error"]["code"] == "invalid_transition"
    assert call("post", f"{path}/no-show").status_code == 409  # not before its start
    assert call("post", f"{path}/confirm").json()["status"] == "confirmed"
    assert call("post", f"{path}/confirm").status_code == 409
    assert call("post", f"{path}/check-in").json()["status"] == "checked_in"
    assert call("post", f"{path}/complete").json()["status"] == "completed"
    cancelled = call("post", f"{path}/cancel", {"reason": "late"})
    assert cancelled.status_code == 409 and cancelled.json()["error"]["code"] == "invalid_transition"
    history = call("get", path).json()["history"]
    assert [h["action"] for h in history] == ["booked", "confirm", "check_in", "complete"]
    assert call("post", "/api/v1/appointments/999999/confirm").status_code == 404


def test_cancel_frees_the_time_and_offers_backfill(small_clinic, call):
    clinic = small_clinic["clinic"]
    first = call("post", "/api/v1/appointments", booking(small_clinic)).json()
    # p-3 waits for a consult this week; p-4 waits only for dr-b; p-5 is busy then.
    call(
        "post",
        "/api/v1/waitlist",
        {
            "patient": "p-3",
            "appointment_type": "consult",
            "earliest": str(small_clinic["day"]),
            "latest": str(small_clinic["day"] + dt.timedelta(days=4)),
        },
    )
    call(
        "post",
        "/api/v1/waitlist",
        {
            "patient": "p-4",
            "appointment_type": "consult",
            "provider": "dr-b",
            "earliest": str(small_clinic["day"]),
            "latest": str(small_clinic["day"]),
        },
    )
    call(
        "post",
        "/api/v1/waitlist",
        {
            "patient": "p-5",
            "appointment_type": "consult",
            "earliest": str(small_clinic["day"]),
            "latest": str(small_clinic["day"]),
        },
    )
    call("post", "/api/v1/appointments", booking(small_clinic, patient="p-5", provider="dr-b", room="r2"))
    # p-6 cancelled a consult recently and holds none now.
    other = call("post", "/api/v1/appointments", booking(small_clinic, patient="p-6", clock="14:00")).json()
    call("post", f"/api/v1/appointments/{other['id']}/cancel", {"reason": "away"})
    # p-7 cancelled one too, but holds another consult: not a candidate.
    seventh = call("post", "/api/v1/appointments", booking(small_clinic, patient="p-7", clock="15:00")).json()
    call("post", f"/api/v1/appointments/{seventh['id']}/cancel", {"reason": "moved"})
    assert (
        call("post", "/api/v1/appointments", booking(small_clinic, patient="p-7", clock="16:00")).status_code
        == 201
    )

    response = call("post", f"/api/v1/appointments/{first['id']}/cancel", {"reason": "patient sick"})
    assert response.status_code == 200
    body = response.json()
    assert body["appointment"]["status"] == "cancelled"
    assert body["appointment"]["cancel_reason"] == "patient sick"
    backfill = body["backfill"]
    assert [(c["patient"], c["source"], c["rank"]) for c in backfill] == [
        ("p-3", "waitlist", 1),
        ("p-6", "recent_cancellation", 2),
    ]
    assert backfill[0]["slot"] == {
        "start": first["start"],
        "end": first["end"],
        "provider": "dr-a",
        "room": "r1",
        "overbook": False,
    }
    assert backfill[0]["reason"].startswith("waitlisted for consult ")
    assert (
        OutboxEvent.objects.filter(event_type="waitlist.slot_available", appointment_id=first["id"]).count()
        == 1
    )
    # One click: the candidate books the freed slot as offered, and their waitlist entry closes.
    slot = backfill[0]["slot"]
    rebooked = call(
        "post",
        "/api/v1/appointments",
        {
            "patient": "p-3",
            "appointment_type": "consult",
            "provider": slot["provider"],
            "room": slot["room"],
            "start": slot["start"],
            "backfill_of": first["id"],
        },
    )
    assert rebooked.status_code == 201
    assert not WaitlistEntry.objects.open().filter(patient__code="p-3").exists()
    assert Appointment.objects.get(pk=rebooked.json()["id"]).backfill_of_id == first["id"]
    assert clinic.code == "riverside"


def test_reschedule_moves_atomically_and_may_overlap_itself(small_clinic, call):
    first = call("post", "/api/v1/appointments", booking(small_clinic)).json()
    moved = call(
        "post", f"/api/v1/appointments/{first['id']}/reschedule", {"start": local(small_clinic, "09:15")}
    )
    assert moved.status_code == 200, moved.content
    body = moved.json()
    assert body["appointment"]["start"] == local(small_clinic, "09:15")
    assert body["previous"]["status"] == "cancelled" and body["previous"]["cancel_reason"] == "rescheduled"
    assert body["backfill"] == []  # the freed time is mostly re-used: nothing to offer
    # A failing reschedule changes nothing.
    call("post", "/api/v1/appointments", booking(small_clinic, patient="p-2", clock="11:00"))
    failed = call(
        "post",
        f"/api/v1/appointments/{body['appointment']['id']}/reschedule",
        {"start": local(small_clinic, "11:00")},
    )
    assert failed.status_code == 409
    assert Appointment.objects.get(pk=body["appointment"]["id"]).status == "booked"
    off_grid = call(
        "post",
        f"/api/v1/appointments/{body['appointment']['id']}/reschedule",
        {"start": local(small_clinic, "11:05")},
    )
    assert off_grid.status_code == 422
    assert Appointment.objects.get(pk=body["appointment"]["id"]).status == "booked"


def test_list_appointments_filters_and_orders(small_clinic, call):
    call("post", "/api/v1/appointments", booking(small_clinic, clock="10:00"))
    call(
        "post",
        "/api/v1/appointments",
        booking(small_clinic, patient="p-2", clock="09:00", provider="dr-b", room="r2"),
    )
    listed = call("get", f"/api/v1/appointments?date={small_clinic['day']}").json()["appointments"]
    assert [a["start"][11:16] for a in listed] == ["09:00", "10:00"]
    by_provider = call("get", "/api/v1/appointments?provider=dr-a").json()["appointments"]
    assert [a["patient"] for a in by_provider] == ["p-1"]
    assert call("get", "/api/v1/appointments?status=bogus").status_code == 422
    assert call("get", "/api/v1/appointments?provider=dr-zz").status_code == 404


def test_overbooking_through_the_api(small_clinic, call):
    from clinic.models import OverbookingRule

    OverbookingRule.objects.create(clinic=small_clinic["clinic"], max_extra=1)
    call("post", "/api/v1/appointments", booking(small_clinic))
    extra = call(
        "post", "/api/v1/appointments", booking(small_clinic, patient="p-2", room="r2", overbook=True)
    )
    assert extra.status_code == 201 and extra.json()["overbook"] is True
    full = call(
        "post", "/api/v1/appointments", booking(small_clinic, patient="p-3", room="r2", overbook=True)
    )
    assert full.json()["error"]["details"]["reason"] == "no_overbooking_seat"


def test_patients_and_resources(small_clinic, call):
    created = call(
        "post",
        "/api/v1/patients",
        {"code": "p-new", "first_name": "Testa", "last_name": "Beispiel", "phone": "+49 30 555 0101"},
    )
    assert created.status_code == 201
    assert (
        call("post", "/api/v1/patients", {"code": "p-new", "first_name": "A", "last_name": "B"}).status_code
        == 422
    )
    assert (
        call(
            "post", "/api/v1/patients", {"code": "Bad Code", "first_name": "A", "last_name": "B"}
        ).status_code
        == 422
    )
    assert [p["code"] for p in call("get", "/api/v1/patients?q=beisp").json()] == ["p-new"]
    assert [p["code"] for p in call("get", "/api/v1/patients?q=5550101").json()] == ["p-new"]
    assert call("get", "/api/v1/patients/p-new").json()["last_name"] == "Beispiel"
    assert call("get", "/api/v1/patients/p-none").status_code == 404
    assert [p["code"] for p in call("get", "/api/v1/providers").json()] == ["dr-a", "dr-b"]
    assert call("get", "/api/v1/rooms").json()[2]["equipment"] == ["ecg"]
    assert {t["code"] for t in call("get", "/api/v1/appointment-types").json()} == {"consult", "ecg"}
    assert call("get", "/api/v1/equipment").json() == [{"code": "ecg", "name": "ECG"}]


def test_stats_endpoint_returns_the_stored_figures(small_clinic, call):
    call("post", "/api/v1/appointments", booking(small_clinic))
    response = call("get", f"/api/v1/stats?date={small_clinic['day']}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["date"] == str(small_clinic["day"])
    dr_a = next(p for p in body["providers"] if p["provider"] == "dr-a")
    assert dr_a["available_minutes"] == 480 and dr_a["booked_minutes"] == 30 and dr_a["appointments"] == 1
    assert dr_a["utilization"] == pytest.approx(30 / 480, abs=1e-4)
    assert {r["room"] for r in body["rooms"]} == {"r1", "r2", "r3"}
    assert body["totals"]["appointments"] == 1
    assert call("get", "/api/v1/stats?date=not-a-date").status_code == 422
    assert call("get", "/api/v1/stats").status_code == 422


def test_patient_create_validates_and_replays_with_an_idempotency_key(small_clinic, call):
    body = {"code": "p-key", "first_name": "Testa", "last_name": "Beispiel", "email": "testa@example.org"}
    first = call("post", "/api/v1/patients", body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = call("post", "/api/v1/patients", body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    bad = call(
        "post",
        "/api/v1/patients",
        {"code": "p-bad", "first_name": "A", "last_name": "B", "email": "nope", "birth_date": "2999-01-01"},
    )
    assert bad.status_code == 422
    assert set(bad.json()["error"]["details"]["fields"]) == {"email", "birth_date"}


def test_a_permission_granted_to_the_user_directly_counts_too(small_clinic, call, django_user_model):
    from django.contrib.auth.models import Permission

    user = make_user(django_user_model, "locum", role=None)
    token = ApiToken.issue(user)[1]
    assert call("post", "/api/v1/appointments", booking(small_clinic), token=token).status_code == 403
    user.user_permissions.add(
        Permission.objects.get(codename="add_appointment", content_type__app_label="scheduling")
    )
    assert call("post", "/api/v1/appointments", booking(small_clinic), token=token).status_code == 201
