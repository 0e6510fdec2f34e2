"""Every API endpoint x every role x own or another clinic: who gets what.

Two clinics; each caller is a member of riverside only (the clinician as its provider
dr-a). Another clinic's objects are a 404 for whoever may do the thing at all, and a
caller whose role may not do it gets a 403 first, without learning whether it exists.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from clinic.models import ApiToken, Membership
from clinic.tests.factories import ClinicFactory, PatientFactory
from scheduling import services
from scheduling.models import Appointment, AppointmentStatus
from scheduling.tests.conftest import make_user
from scheduling.tests.factories import AppointmentFactory, WaitlistEntryFactory

ROLES = ("front_desk", "clinician", "admin", None)

# name, method, path (formatted with the objects), body, permission (role -> allowed)
FRONT_DESK_AND_ADMIN = {"front_desk", "admin"}
EVERY_ROLE = {"front_desk", "clinician", "admin"}
ENDPOINTS = [
    (
        "slots",
        "GET",
        "/api/v1/slots?appointment_type=consult&date_from={day}&date_to={day}",
        None,
        EVERY_ROLE,
        200,
    ),
    ("list appointments", "GET", "/api/v1/appointments", None, EVERY_ROLE, 200),
    ("get appointment", "GET", "/api/v1/appointments/{appointment}", None, EVERY_ROLE, 200),
    ("appointment invitation", "GET", "/api/v1/appointments/{appointment}.ics", None, EVERY_ROLE, 200),
    ("book", "POST", "/api/v1/appointments", "booking", FRONT_DESK_AND_ADMIN, 201),
    ("confirm", "POST", "/api/v1/appointments/{appointment}/confirm", None, EVERY_ROLE, 200),
    ("check in", "POST", "/api/v1/appointments/{appointment}/check-in", None, EVERY_ROLE, 200),
    (
        "cancel",
        "POST",
        "/api/v1/appointments/{appointment}/cancel",
        {"reason": "ill"},
        FRONT_DESK_AND_ADMIN,
        200,
    ),
    (
        "reschedule",
        "POST",
        "/api/v1/appointments/{appointment}/reschedule",
        "move",
        FRONT_DESK_AND_ADMIN,
        200,
    ),
    ("list waitlist", "GET", "/api/v1/waitlist", None, EVERY_ROLE, 200),
    ("add to waitlist", "POST", "/api/v1/waitlist", "waitlist", FRONT_DESK_AND_ADMIN, 201),
    (
        "close waitlist entry",
        "POST",
        "/api/v1/waitlist/{entry}/close",
        {"reason": "x"},
        FRONT_DESK_AND_ADMIN,
        200,
    ),
    ("stats", "GET", "/api/v1/stats?date={day}", None, EVERY_ROLE, 200),
    ("search patients", "GET", "/api/v1/patients?q=p", None, EVERY_ROLE, 200),
    ("get patient", "GET", "/api/v1/patients/{patient}", None, EVERY_ROLE, 200),
    ("add patient", "POST", "/api/v1/patients", "patient", FRONT_DESK_AND_ADMIN, 201),
    (
        "change patient",
        "PATCH",
        "/api/v1/patients/{patient}",
        {"email": "x@example.org"},
        FRONT_DESK_AND_ADMIN,
        200,
    ),
    ("providers", "GET", "/api/v1/providers", None, EVERY_ROLE, 200),
    ("rooms", "GET", "/api/v1/rooms", None, EVERY_ROLE, 200),
    ("appointment types", "GET", "/api/v1/appointment-types", None, EVERY_ROLE, 200),
    ("equipment", "GET", "/api/v1/equipment", None, EVERY_ROLE, 200),
    (
        "overbooking recommendations",
        "GET",
        "/api/v1/overbooking/recommendations",
        None,
        EVERY_ROLE,
        200,
    ),
]


@pytest.fixture
def world(small_clinic, django_user_model):
    """Riverside (small_clinic) and hillside, an appointment on dr-a, a waitlist entry and a
    patient in each, and a token per role, each a member of riverside only."""
    c = small_clinic
    tz = ZoneInfo("Europe/Berlin")
    start = dt.datetime.combine(c["day"], dt.time(9), tzinfo=tz)
    own = services.appointment_book(
        clinic=c["clinic"],
        patient=c["patients"][0],
        appointment_type=c["consult"],
        provider=c["providers"][0],
        room=c["rooms"][0],
        start=start,
    )
    hillside = ClinicFactory(code="hillside", name="Hillside")
    other = AppointmentFactory(clinic=hillside, start=start + dt.timedelta(days=1))
    tokens = {}
    for role in ROLES:
        user = make_user(django_user_model, f"user-{role}", role)
        Membership.objects.create(
            user=user, clinic=c["clinic"], provider=c["providers"][0] if role == "clinician" else None
        )
        tokens[role] = ApiToken.issue(user)[1]
    return {
        "day": c["day"],
        "tokens": tokens,
        "own": {
            "appointment": own.pk,
            "entry": WaitlistEntryFactory(clinic=c["clinic"], appointment_type=c["consult"]).pk,
            "patient": c["patients"][1].code,
        },
        "other": {
            "appointment": other.pk,
            "entry": WaitlistEntryFactory(clinic=hillside).pk,
            "patient": PatientFactory(clinic=hillside, code="p-hill").code,
        },
        "bodies": {
            "booking": {
                "patient": "p-2",
                "appointment_type": "consult",
                "provider": "dr-a",
                "room": "r2",
                "start": (start + dt.timedelta(hours=2)).isoformat(),
            },
            "move": {"start": (start + dt.timedelta(hours=5)).isoformat()},
            "waitlist": {
                "patient": "p-3",
                "appointment_type": "consult",
                "earliest": str(c["day"]),
                "latest": str(c["day"]),
            },
            "patient": {"code": "p-new", "first_name": "Ada", "last_name": "Neu"},
        },
    }


def call(client, world, role, endpoint, where):
    name, method, path, body, allowed, success = endpoint
    url = path.format(day=world["day"], **world[where])
    if where == "other" and not any(f"{{{key}}}" in path for key in world[where]):
        # A collection of the other clinic is asked for by name; its objects are asked
        # for by id or code under the caller's own clinic, as a client probing would.
        url += ("&" if "?" in url else "?") + "clinic=hillside"
    payload = world["bodies"][body] if isinstance(body, str) else body
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {world['tokens'][role]}"}
    if payload is not None:
        kwargs.update(data=json.dumps(payload), content_type="application/json")
    return getattr(client, method.lower())(url, **kwargs)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "no-role")
@pytest.mark.parametrize("where", ["own", "other"])
def test_access(client, world, endpoint, role, where):
    name, method, path, body, allowed, success = endpoint
    response = call(client, world, role, endpoint, where)
    if role not in allowed:
        expected = 403
    elif where == "other":
        expected = 404
    else:
        expected = success
    assert response.status_code == expected, (name, role, where, response.content[:300])
    if response.status_code >= 400:
        assert response.json()["error"]["code"] == {403: "forbidden", 404: "not_found"}[expected]
        assert b"Hillside" not in response.content  # nothing of the other clinic's data


def test_a_clinician_sees_and_moves_only_their_own_providers_appointments(client, world, small_clinic):
    c = small_clinic
    theirs = services.appointment_book(
        clinic=c["clinic"],
        patient=c["patients"][5],
        appointment_type=c["consult"],
        provider=c["providers"][1],
        room=c["rooms"][1],
        start=dt.datetime.combine(c["day"], dt.time(14), tzinfo=ZoneInfo("Europe/Berlin")),
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world['tokens']['clinician']}"}
    listed = client.get("/api/v1/appointments", **auth).json()["appointments"]
    assert [a["id"] for a in listed] == [world["own"]["appointment"]]
    assert client.get(f"/api/v1/appointments/{theirs.pk}", **auth).status_code == 404
    assert client.post(f"/api/v1/appointments/{theirs.pk}/check-in", **auth).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == AppointmentStatus.BOOKED
    # A clinician linked to no provider sees no appointment at all.
    Membership.objects.filter(user__username="user-clinician").update(provider=None)
    assert client.get("/api/v1/appointments", **auth).json()["appointments"] == []


def test_another_clinics_appointment_is_never_changed(client, world):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world['tokens']['front_desk']}"}
    other = world["other"]["appointment"]
    for action in ("confirm", "check-in", "cancel"):
        response = client.post(f"/api/v1/appointments/{other}/{action}", "{}", "application/json", **auth)
        assert response.status_code == 404
    assert Appointment.objects.get(pk=other).status == AppointmentStatus.BOOKED
