"""Who gets what through the FHIR door: authentication as the JSON API's, every endpoint x
every role x own or another clinic (the API's matrix, scheduling/tests/test_access_matrix.py),
and FHIR answers to everything else under /fhir/."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.utils import timezone

from clinic.models import ApiToken, Membership
from clinic.tests.factories import (
    AppointmentTypeFactory,
    ClinicFactory,
    PatientFactory,
    ProviderFactory,
    RoomFactory,
)
from fhir.ids import SlotKey
from fhir.tests.conftest import FHIR_JSON, Fhir, booking, issue_code, local
from fhir.tests.validation import valid
from scheduling import services
from scheduling.tests.conftest import make_user
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = ("front_desk", "clinician", "admin", None)
EVERY_ROLE = {"front_desk", "clinician", "admin"}
FRONT_DESK_AND_ADMIN = {"front_desk", "admin"}


@pytest.fixture
def world(small_clinic, django_user_model, fhir_base):
    """Riverside (small_clinic, dr-a the clinician's provider) and hillside, a client per
    role (each a member of riverside only), and a way to make a fresh target of each kind
    in either clinic."""
    c = small_clinic
    hillside = ClinicFactory(code="hillside", name="Hillside")
    hill = {
        "provider": ProviderFactory(clinic=hillside, code="dr-hill"),
        "room": RoomFactory(clinic=hillside, code="hill-room"),
        "type": AppointmentTypeFactory(clinic=hillside, code="hill-type"),
        "patient": PatientFactory(clinic=hillside, code="p-hill"),
    }
    clients = {}
    for role in ROLES:
        user = make_user(django_user_model, f"user-{role}", role)
        Membership.objects.create(
            user=user, clinic=c["clinic"], provider=c["providers"][0] if role == "clinician" else None
        )
        clients[role] = Fhir(fhir_base, ApiToken.issue(user)[1])
    slots, appointments = iter(range(1000)), iter(range(1000))
    weekdays = [d for d in range(100) if (c["day"] + dt.timedelta(days=d)).weekday() < 5]

    def slot(where: str) -> str:
        """A free slot of dr-a (riverside) some afternoon, or of hillside's provider."""
        n = next(slots)
        start = local(c, "13:00", weekdays[n // 14]) + dt.timedelta(minutes=15 * (n % 14))
        if where == "other":
            return SlotKey(hill["provider"].pk, hill["room"].pk, hill["type"].pk, start, 0).id
        return SlotKey(c["providers"][0].pk, c["rooms"][1].pk, c["consult"].pk, start, 0).id

    def appointment(where: str) -> str:
        """A booked appointment of dr-a (riverside), or of hillside."""
        n = next(appointments)
        if where == "other":
            return str(AppointmentFactory(clinic=hillside, start=local(c, "09:00", n)).pk)
        return str(
            services.appointment_book(
                clinic=c["clinic"],
                patient=c["patients"][n % 20],
                appointment_type=c["consult"],
                provider=c["providers"][0],
                room=c["rooms"][0],
                start=local(c, "08:00", weekdays[n // 8]) + dt.timedelta(minutes=30 * (n % 8)),
            ).pk
        )

    yield {"clients": clients, "slot": slot, "appointment": appointment, "day": c["day"], "hill": hill}
    for client in clients.values():
        client.session.close()


Target = Callable[[dict, str], dict[str, Any]]


def path(template: str, **kinds: str) -> Target:
    """A request whose path names a fresh object (or another clinic's), e.g.
    ``path("Appointment/{appointment}")``."""

    def make(world: dict, where: str) -> dict[str, Any]:
        values = {}
        for key in kinds:
            values[key] = world[kinds[key]](where)
        return {"path": template.format(**values)}

    return make


def fixed(own: str, other: str) -> Target:
    return lambda world, where: {"path": own if where == "own" else other}


def collection(name: str, **params: str) -> Target:
    """A search: another clinic's is asked for by name (``?clinic=hillside``)."""

    def make(world: dict, where: str) -> dict[str, Any]:
        query = {
            k.replace("_", "-") if k != "_count" else k: v.format(day=world["day"]) for k, v in params.items()
        }
        if where == "other":
            query["clinic"] = "hillside"
        return {"path": name, "params": query}

    return make


def book(world: dict, where: str) -> dict[str, Any]:
    return {"path": "Appointment", "body": booking(world["slot"](where), "p-5")}


def check_in(world: dict, where: str) -> dict[str, Any]:
    return {
        "path": f"Appointment/{world['appointment'](where)}",
        "body": [{"op": "replace", "path": "/status", "value": "checked-in"}],
        "content_type": "application/json-patch+json",
        "method": "PATCH",
    }


def cancel(world: dict, where: str) -> dict[str, Any]:
    appointment_id = world["appointment"](where)
    return {
        "path": f"Appointment/{appointment_id}",
        "body": {"resourceType": "Appointment", "id": appointment_id, "status": "cancelled"},
        "method": "PUT",
    }


# name, method, target, roles allowed, success status
ENDPOINTS: list[tuple[str, str, Target, set[str], int]] = [
    ("practitioner", "GET", fixed("Practitioner/dr-a", "Practitioner/dr-hill"), EVERY_ROLE, 200),
    ("practitioners", "GET", collection("Practitioner"), EVERY_ROLE, 200),
    ("location", "GET", fixed("Location/r1", "Location/hill-room"), EVERY_ROLE, 200),
    ("locations", "GET", collection("Location"), EVERY_ROLE, 200),
    ("service", "GET", fixed("HealthcareService/consult", "HealthcareService/hill-type"), EVERY_ROLE, 200),
    ("services", "GET", collection("HealthcareService"), EVERY_ROLE, 200),
    ("schedule", "GET", fixed("Schedule/dr-a", "Schedule/dr-hill"), EVERY_ROLE, 200),
    ("schedules", "GET", collection("Schedule"), EVERY_ROLE, 200),
    ("patient", "GET", fixed("Patient/p-1", "Patient/p-hill"), EVERY_ROLE, 200),
    ("patients", "GET", collection("Patient"), EVERY_ROLE, 200),
    ("slots", "GET", collection("Slot", service_type="consult", start="ge{day}"), EVERY_ROLE, 200),
    ("slot", "GET", path("Slot/{slot}", slot="slot"), EVERY_ROLE, 200),
    ("appointments", "GET", collection("Appointment"), EVERY_ROLE, 200),
    ("appointment", "GET", path("Appointment/{appointment}", appointment="appointment"), EVERY_ROLE, 200),
    ("book", "POST", book, FRONT_DESK_AND_ADMIN, 201),
    ("check in", "PATCH", check_in, EVERY_ROLE, 200),
    ("cancel", "PUT", cancel, FRONT_DESK_AND_ADMIN, 200),
    ("bulk manifest", "GET", collection("$bulk-publish"), EVERY_ROLE, 200),
    ("bulk locations", "GET", collection("$bulk-publish/Location.ndjson"), EVERY_ROLE, 200),
    ("bulk schedules", "GET", collection("$bulk-publish/Schedule.ndjson"), EVERY_ROLE, 200),
    ("bulk slots", "GET", collection("$bulk-publish/Slot-consult.ndjson"), EVERY_ROLE, 200),
]


def test_every_endpoint_for_every_role_in_its_own_and_another_clinic(world):
    """A role that may not gets 403 (before learning whether the object exists); another
    clinic's object is 404 for a role that may; nothing of hillside's ever shows."""
    wrong = []
    for name, method, target, allowed, success in ENDPOINTS:
        for role in ROLES:
            for where in ("own", "other"):
                request = target(world, where)
                client = world["clients"][role]
                if "body" in request:
                    response = client.send(
                        request.get("method", method),
                        request["path"],
                        request["body"],
                        request.get("content_type", FHIR_JSON),
                    )
                else:
                    response = client.get(request["path"], request.get("params"))
                expected = 403 if role not in allowed else (404 if where == "other" else success)
                if response.status_code != expected:
                    wrong.append((name, role, where, response.status_code, expected, response.text[:200]))
                    continue
                if response.status_code >= 400:
                    assert issue_code(response) == {403: "forbidden", 404: "not_found"}[expected]
                    valid(response.json())
                assert "Hillside" not in response.text  # its name; an id asked for may be echoed
    assert not wrong, "\n".join(map(str, wrong))


def test_without_or_with_bad_credentials_it_is_401(fhir_base, small_clinic, desk_token, desk):
    anonymous = Fhir(fhir_base, None)
    bad = Fhir(fhir_base, "not-a-token")
    revoked_token = ApiToken.issue(desk)
    ApiToken.objects.filter(pk=revoked_token[0].pk).update(revoked_at=timezone.now())
    revoked = Fhir(fhir_base, revoked_token[1])
    for client in (anonymous, bad, revoked):
        for method, where in (("GET", "Practitioner"), ("GET", "Slot"), ("POST", "Appointment")):
            response = client.request(method, where, data="{}", headers={"Content-Type": FHIR_JSON})
            assert response.status_code == 401, (method, where)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert issue_code(response) == "unauthorized"
            assert valid(response.json())["issue"][0]["code"] == "login"
        client.session.close()


def test_everything_else_under_fhir_answers_in_fhir(fhir, small_clinic):
    for where in ("Observation", "Observation/1", "Patient/p_1", "", "Practitioner/dr-a/_history/1"):
        response = fhir.get(where)
        assert response.status_code == 404, where
        assert response.headers["Content-Type"].startswith(FHIR_JSON)
        assert issue_code(response) == "not_found"
    not_allowed = fhir.request("DELETE", "Appointment/1")
    assert not_allowed.status_code == 405
    assert not_allowed.headers["Allow"] == "GET, PATCH, PUT"
    assert valid(not_allowed.json())["issue"][0]["code"] == "not-supported"
    xml = fhir.get("Practitioner", {"_format": "xml"})
    assert xml.status_code == 406
    assert fhir.get("Practitioner", headers={"Accept": "application/fhir+xml"}).status_code == 406


def test_a_staff_session_works_and_its_unsafe_requests_need_the_csrf_token(
    live_server, client, small_clinic, django_user_model
):
    """The JSON API's second scheme: a logged-in staff member's browser session, with
    Django's CSRF protection on writes (here through a real server, not the test client,
    which would skip the CSRF check)."""
    user = make_user(django_user_model, "browser-desk")
    client.force_login(user)
    with requests.Session() as browser:
        browser.cookies.set("sessionid", client.cookies["sessionid"].value)
        read = browser.get(f"{live_server.url}/fhir/Practitioner/dr-a", timeout=30)
        assert read.status_code == 200
        slot_id = SlotKey(
            small_clinic["providers"][0].pk,
            small_clinic["rooms"][0].pk,
            small_clinic["consult"].pk,
            local(small_clinic, "09:00"),
            0,
        ).id
        forged = browser.post(
            f"{live_server.url}/fhir/Appointment",
            data=json.dumps(booking(slot_id)),
            headers={"Content-Type": FHIR_JSON},
            timeout=30,
        )
        assert forged.status_code == 403
        assert forged.headers["Content-Type"].startswith(FHIR_JSON)
        assert issue_code(forged) == "forbidden"


def test_fhir_and_api_requests_count_against_one_rate_limit(
    small_clinic, django_user_model, fhir_base, live_server, monkeypatch
):
    from clinic.api import api

    # A user of its own: the counts are kept per user, across tests.
    token = ApiToken.issue(make_user(django_user_model, f"counted-{uuid.uuid4().hex[:8]}"))[1]
    monkeypatch.setattr(api.throttle[0], "num_requests", 3)
    api_call = requests.get(
        f"{live_server.url}/api/v1/providers", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert api_call.status_code == 200
    fhir = Fhir(fhir_base, token)
    assert fhir.get("Practitioner").status_code == 200
    assert fhir.get("Location").status_code == 200
    limited = fhir.get("Practitioner")
    fhir.session.close()
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert issue_code(limited) == "rate_limited"
    assert valid(limited.json())["issue"][0]["code"] == "throttled"


def test_failures_are_operation_outcomes_too(fhir, small_clinic, monkeypatch):
    nul = fhir.get("Patient", {"name": "a\x00b"})  # PostgreSQL cannot compare a NUL byte
    assert nul.status_code == 422
    assert issue_code(nul) == "validation_error"
    too_big = fhir.post("Appointment", booking("1-1-1-1-0", "p-1", comment="x" * 3_000_000))
    assert too_big.status_code == 413
    assert issue_code(too_big) == "payload_too_large"

    def broken(provider):
        raise RuntimeError("a bug")

    monkeypatch.setattr("fhir.serialize.practitioner", broken)
    failed = fhir.get("Practitioner/dr-a")
    assert failed.status_code == 500
    assert issue_code(failed) == "internal_error"
    assert "a bug" not in failed.text
    assert valid(failed.json())["issue"][0]["code"] == "exception"
