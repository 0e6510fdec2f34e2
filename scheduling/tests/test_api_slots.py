"""GET /api/v1/slots through the whole Django stack against real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from clinic.models import ApiToken, Clinic, Closure, Membership, OverbookingRule, TimeOff
from clinic.tests.factories import (
    AppointmentTypeFactory,
    EquipmentFactory,
    PatientFactory,
    ProviderFactory,
    RoomFactory,
    WorkingHoursFactory,
)
from scheduling.selectors import clinic_snapshot
from scheduling.tests.conftest import make_user
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


def next_monday() -> dt.date:
    today = timezone.localdate()
    return today + dt.timedelta(days=7 - today.weekday())


@pytest.fixture
def token(django_user_model):
    return ApiToken.issue(make_user(django_user_model, "desk"))[1]


@pytest.fixture
def api(client, token):
    def get(path, **params):
        return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {token}")

    return get


@pytest.fixture
def setup(clinic):
    ecg = EquipmentFactory(clinic=clinic, code="ecg")
    rooms = [RoomFactory(clinic=clinic, code="r1"), RoomFactory(clinic=clinic, code="r2")]
    rooms[1].equipment.add(ecg)
    providers = [ProviderFactory(clinic=clinic, code=c) for c in ("dr-a", "dr-b")]
    for p in providers:
        for weekday in range(5):
            WorkingHoursFactory(provider=p, weekday=weekday, start=dt.time(8), end=dt.time(12))
    consult = AppointmentTypeFactory(clinic=clinic, code="consult", duration_minutes=30)
    ecg_type = AppointmentTypeFactory(clinic=clinic, code="ecg", duration_minutes=30, buffer_after_minutes=10)
    ecg_type.required_equipment.add(ecg)
    return {"clinic": clinic, "rooms": rooms, "providers": providers, "consult": consult, "ecg": ecg_type}


def test_slots_lists_ranked_slots_in_local_time(api, setup):
    day = next_monday()
    response = api("/api/v1/slots", appointment_type="consult", date_from=day, date_to=day, limit=5)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["appointment_type"] == "consult"
    assert body["total"] == 2 * 15
    assert len(body["slots"]) == 5
    first = body["slots"][0]
    assert set(first) >= {"start", "end", "provider", "room", "overbook", "score", "factors"}
    assert first["start"].endswith(("+01:00", "+02:00"))
    assert set(first["factors"]) == {"preference", "compactness", "room_switch", "overbooking"}
    scores = [s["score"] for s in body["slots"]]
    assert scores == sorted(scores, reverse=True)


def test_slots_respect_bookings_equipment_time_off_and_closures(api, setup):
    day = next_monday()
    clinic = setup["clinic"]
    AppointmentFactory(
        clinic=clinic,
        provider=setup["providers"][0],
        room=setup["rooms"][0],
        appointment_type=setup["consult"],
        start=dt.datetime.combine(day, dt.time(9), tzinfo=clinic.tz),
    )
    TimeOff.objects.create(
        provider=setup["providers"][1],
        start=dt.datetime.combine(day, dt.time(8), tzinfo=clinic.tz),
        end=dt.datetime.combine(day, dt.time(12), tzinfo=clinic.tz),
    )
    body = api("/api/v1/slots", appointment_type="ecg", date_from=day, date_to=day, limit=100).json()
    assert {s["provider"] for s in body["slots"]} == {"dr-a"}
    assert {s["room"] for s in body["slots"]} == {"r2"}
    assert not [s for s in body["slots"] if s["start"][11:16] in ("08:45", "09:00", "09:15")]
    Closure.objects.create(clinic=clinic, date=day)
    assert api("/api/v1/slots", appointment_type="ecg", date_from=day, date_to=day).json()["total"] == 0


def test_overbook_parameter(api, setup):
    day = next_monday()
    clinic = setup["clinic"]
    OverbookingRule.objects.create(clinic=clinic, max_extra=1)
    AppointmentFactory(
        clinic=clinic,
        provider=setup["providers"][0],
        room=setup["rooms"][0],
        appointment_type=setup["consult"],
        start=dt.datetime.combine(day, dt.time(9), tzinfo=clinic.tz),
    )
    params = {
        "appointment_type": "consult",
        "date_from": day,
        "date_to": day,
        "provider": "dr-a",
        "limit": 100,
    }
    with_extra = api("/api/v1/slots", **params).json()
    without_extra = api("/api/v1/slots", **params, overbook="false").json()
    assert with_extra["total"] == without_extra["total"] + 3
    assert [s["overbook"] for s in with_extra["slots"]][-3:] == [True, True, True]
    assert not any(s["overbook"] for s in without_extra["slots"])


def test_patient_preferences_and_bookings(api, setup):
    day = next_monday()
    clinic = setup["clinic"]
    patient = PatientFactory(
        clinic=clinic, code="p-1", preferred_days=["mon"], preferred_times=[["10:00", "12:00"]]
    )
    patient.preferred_providers.add(setup["providers"][1])
    AppointmentFactory(
        clinic=clinic,
        patient=patient,
        provider=setup["providers"][0],
        room=setup["rooms"][0],
        appointment_type=setup["consult"],
        start=dt.datetime.combine(day, dt.time(8), tzinfo=clinic.tz),
    )
    body = api("/api/v1/slots", appointment_type="consult", date_from=day, date_to=day, patient="p-1").json()
    best = body["slots"][0]
    assert best["provider"] == "dr-b" and best["start"][11:13] in ("10", "11")
    assert best["factors"]["preference"] == 1.0
    all_slots = api(
        "/api/v1/slots", appointment_type="consult", date_from=day, date_to=day, patient="p-1", limit=1000
    ).json()["slots"]
    assert not [s for s in all_slots if s["start"][11:16] in ("08:00", "08:15")]


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        ({}, 422, "validation_error", "appointment_type"),
        (
            {"appointment_type": "consult", "date_from": "2027-13-01", "date_to": "2027-03-01"},
            422,
            "validation_error",
            "date_from",
        ),
        (
            {"appointment_type": "consult", "date_from": "2027-03-02", "date_to": "2027-03-01"},
            422,
            "validation_error",
            "date_to",
        ),
        (
            {"appointment_type": "consult", "date_from": "2027-03-01", "date_to": "2027-04-02"},
            422,
            "validation_error",
            "date_to",
        ),
        (
            {"appointment_type": "consult", "date_from": "2027-03-01", "date_to": "2027-03-01", "limit": 0},
            422,
            "validation_error",
            "limit",
        ),
        (
            {
                "appointment_type": "consult",
                "date_from": "2027-03-01",
                "date_to": "2027-03-01",
                "limit": 1001,
            },
            422,
            "validation_error",
            "limit",
        ),
        (
            {"appointment_type": "consult", "date_from": "2027-03-01", "date_to": "2027-03-01", "limit": "x"},
            422,
            "validation_error",
            "limit",
        ),
        (
            {"appointment_type": "nope", "date_from": "2027-03-01", "date_to": "2027-03-01"},
            404,
            "not_found",
            None,
        ),
        (
            {
                "appointment_type": "consult",
                "date_from": "2027-03-01",
                "date_to": "2027-03-01",
                "provider": "dr-z",
            },
            404,
            "not_found",
            None,
        ),
        (
            {
                "appointment_type": "consult",
                "date_from": "2027-03-01",
                "date_to": "2027-03-01",
                "patient": "p-z",
            },
            404,
            "not_found",
            None,
        ),
        (
            {
                "appointment_type": "consult",
                "date_from": "2027-03-01",
                "date_to": "2027-03-01",
                "clinic": "elsewhere",
            },
            404,
            "not_found",
            None,
        ),
    ],
)
def test_slots_errors_use_the_envelope(api, setup, params, status, code, field):
    response = api("/api/v1/slots", **params)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    if field:
        assert field in error["details"]["fields"]


def test_slots_need_credentials(client, setup):
    response = client.get(
        "/api/v1/slots", {"appointment_type": "consult", "date_from": "2027-03-01", "date_to": "2027-03-01"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    bad = client.get("/api/v1/slots", HTTP_AUTHORIZATION="Bearer wrong")
    assert bad.status_code == 401


def test_staff_session_works(client, setup, django_user_model):
    client.force_login(make_user(django_user_model, "nurse", "clinician"))
    day = next_monday()
    assert (
        client.get(
            "/api/v1/slots", {"appointment_type": "consult", "date_from": day, "date_to": day}
        ).status_code
        == 200
    )


def test_unknown_api_path_is_a_json_404(api):
    response = api("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_openapi_document_and_docs(api, client):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert "/api/v1/slots" in spec.json()["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_snapshot_reads_a_fixed_number_of_queries(setup, django_assert_num_queries):
    clinic = setup["clinic"]
    day = next_monday()

    def read(days: int):
        snap = clinic_snapshot(
            clinic=clinic, date_from=day, date_to=day + dt.timedelta(days=days), now=timezone.now()
        )
        return snap

    with django_assert_num_queries(2):
        small = read(0)
    for n in range(3):
        p = ProviderFactory(clinic=clinic, code=f"dr-extra-{n}")
        WorkingHoursFactory(provider=p, weekday=0)
        TimeOff.objects.create(provider=p, start=timezone.now(), end=timezone.now() + dt.timedelta(days=30))
        RoomFactory(clinic=clinic, code=f"r-extra-{n}").equipment.add(EquipmentFactory(clinic=clinic))
    with django_assert_num_queries(2):
        big = read(30)
    assert len(big.providers) == len(small.providers) + 3


def test_too_many_requests_are_429_rate_limited(client, setup, django_user_model, monkeypatch):
    from clinic.api import api as ninja_api

    throttle = ninja_api.throttle[0]
    monkeypatch.setattr(throttle, "num_requests", 3)
    token = ApiToken.issue(make_user(django_user_model, "eager"))[1]
    statuses = [
        client.get("/api/v1/equipment", HTTP_AUTHORIZATION=f"Bearer {token}").status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/equipment", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1


def test_the_rate_limiter_keeps_each_threads_request_apart():
    import threading

    from clinic.api import ApiThrottle

    throttle = ApiThrottle()
    throttle.key = "user-in-this-thread"
    seen = []
    other = threading.Thread(target=lambda: seen.append(getattr(throttle, "key", None)))
    other.start()
    other.join()
    assert seen == [None]
    assert throttle.key == "user-in-this-thread"


def test_a_deactivated_users_token_is_refused(client, setup, django_user_model):
    user = make_user(django_user_model, "gone")
    token = ApiToken.issue(user)[1]
    assert client.get("/api/v1/equipment", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    user.is_active = False
    user.save()
    response = client.get("/api/v1/equipment", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_with_several_clinics_the_clinic_must_be_named(api, setup):
    from clinic.tests.factories import ClinicFactory

    hillside = ClinicFactory(code="hillside")
    desk = ApiToken.objects.get().user
    for clinic in (Clinic.objects.get(code="riverside"), hillside):
        Membership.objects.create(user=desk, clinic=clinic)
    response = api("/api/v1/equipment")
    assert response.status_code == 422
    assert "clinic" in response.json()["error"]["details"]["fields"]
    assert api("/api/v1/equipment", clinic="riverside").status_code == 200
    assert api("/api/v1/equipment", clinic="hillside").json() == []
