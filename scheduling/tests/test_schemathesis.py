"""Schemathesis against the API's own OpenAPI document (issue 10, "Faults and load", item 1).

Every operation in ``/api/v1/openapi.json`` gets generated requests, valid and invalid,
from a fixed seed; every answer is checked by all of Schemathesis's checks: never a 5xx,
only documented status codes, content types and headers, and bodies that match the
documented schema (the error envelope included).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from clinic.models import ApiToken
from scheduling.tests.conftest import make_user

pytestmark = pytest.mark.django_db
USERS = itertools.count(1)

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20270308,
        "generation": {"max-examples": 25, "deterministic": True, "database": "none"},
        "checks": {
            "positive_data_acceptance": {
                # A request valid by the schema may still be refused 422 by rules JSON Schema
                # cannot state: dates within 1900..2999 and in order, datetimes with an
                # offset, unique patient codes, and the engine's slot_unavailable.
                "expected-statuses": ["2xx", "3xx", 401, 403, 404, 409, 422, 429],
            },
        },
        "operations": [
            {
                # The API reads a date query parameter leniently, as pydantic does: a number
                # is a Unix timestamp (?date=0 is 1970-01-01), where the schema says
                # YYYY-MM-DD. The contract keeps that leniency, so invalid-date examples of
                # these reads cannot be refused; every other check still runs on them.
                "include-path-regex": "^/api/v1/(appointments|stats|slots)$",
                "include-method": "GET",
                "checks": {"negative_data_rejection": {"enabled": False}},
            },
        ],
    }
)


# The document the running application serves, read through its own WSGI entry point (no
# request of it touches the database).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler(), config=CONFIG)


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """Django's WSGI application run in this thread, inside the test's transaction.

    The end of a request closes "old" connections, and closing this thread's connection
    would end the test's transaction: as Django's test client does, the closing is off while
    the application serves the test.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def token(small_clinic, django_user_model) -> str:
    # A front desk of the deployment's only clinic (no membership needed: clinic/access.py).
    # The rate limit counts per user name across the process: a name of its own for each
    # operation keeps an earlier operation's requests from spending this one's allowance.
    return ApiToken.issue(make_user(django_user_model, f"schemathesis-{next(USERS)}"))[1]


@schema.parametrize()
# The clinic, the token and what earlier examples created persist across an operation's
# examples (one test transaction per operation), as they would on a live deployment.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_answer_matches_the_documented_contract(case, token, in_test_transaction):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})


def test_the_success_answers_match_the_documented_schema_too(small_clinic, token, in_test_transaction):
    """Generated codes and ids rarely name a real patient, appointment or free slot, so
    most generated requests are refused: this walks the successful path of every operation
    on the seeded clinic, each answer under all the checks as well."""
    day = small_clinic["day"]
    auth = {"Authorization": f"Bearer {token}"}

    def call(method: str, path: str, status: int, **parts: Any) -> Any:
        response = schema[path][method].Case(**parts).call_and_validate(headers=auth)
        assert response.status_code == status, response.text
        return response.json()

    for resource in ("providers", "rooms", "appointment-types", "equipment"):
        assert call("GET", f"/api/v1/{resource}", 200)
    assert call("GET", "/api/v1/patients", 200, query={"q": "p-1"})
    patient = {"code": "p-1"}
    call("GET", "/api/v1/patients/{code}", 200, path_parameters=patient)
    preferences = {"providers": ["dr-a"], "days": ["mon"], "times": [["08:00", "11:00"]]}
    body = {"phone": "+49 30 5550000", "preferences": preferences}
    assert call("PATCH", "/api/v1/patients/{code}", 200, path_parameters=patient, body=body)["phone"]
    call("POST", "/api/v1/patients", 201, body={"code": "p-new", "first_name": "Ada", "last_name": "Lee"})

    week = {"earliest": day.isoformat(), "latest": (day + dt.timedelta(days=7)).isoformat()}
    entry = call(
        "POST", "/api/v1/waitlist", 201, body={"patient": "p-2", "appointment_type": "consult", **week}
    )
    assert call("GET", "/api/v1/waitlist", 200)

    query = {"appointment_type": "consult", "date_from": day.isoformat(), "date_to": day.isoformat()}
    slots = call("GET", "/api/v1/slots", 200, query={**query, "patient": "p-1", "limit": 5})["slots"]
    first, second = slots[0], slots[1]
    booking = {"patient": "p-1", "appointment_type": "consult", "provider": first["provider"]}
    booked = call(
        "POST", "/api/v1/appointments", 201, body={**booking, "room": first["room"], "start": first["start"]}
    )
    one = {"appointment_id": booked["id"]}
    assert call("GET", "/api/v1/appointments", 200, query={"date": day.isoformat()})["total"] == 1
    assert call("GET", "/api/v1/appointments/{appointment_id}", 200, path_parameters=one)["history"]
    call("POST", "/api/v1/appointments/{appointment_id}/confirm", 200, path_parameters=one)
    moved = call(
        "POST",
        "/api/v1/appointments/{appointment_id}/reschedule",
        200,
        path_parameters=one,
        body={"start": second["start"], "provider": second["provider"], "room": second["room"]},
    )
    two = {"appointment_id": moved["appointment"]["id"]}
    cancelled = call(
        "POST",
        "/api/v1/appointments/{appointment_id}/cancel",
        200,
        path_parameters=two,
        body={"reason": "ill"},
    )
    assert [c["patient"] for c in cancelled["backfill"]] == ["p-2"]
    call("POST", "/api/v1/appointments/{appointment_id}/check-in", 409, path_parameters=two)

    slot = call("GET", "/api/v1/slots", 200, query={**query, "patient": "p-3", "limit": 1})["slots"][0]
    visit = call(
        "POST",
        "/api/v1/appointments",
        201,
        body={
            **booking,
            "patient": "p-3",
            "provider": slot["provider"],
            "room": slot["room"],
            "start": slot["start"],
        },
    )
    three = {"appointment_id": visit["id"]}
    call("POST", "/api/v1/appointments/{appointment_id}/check-in", 200, path_parameters=three)
    call("POST", "/api/v1/appointments/{appointment_id}/complete", 200, path_parameters=three)
    call("POST", "/api/v1/appointments/{appointment_id}/no-show", 409, path_parameters=three)
    call("POST", "/api/v1/waitlist/{entry_id}/close", 200, path_parameters={"entry_id": entry["id"]})
    assert call("GET", "/api/v1/stats", 200, query={"date": day.isoformat()})["totals"]["appointments"] >= 1
    recommendations = call("GET", "/api/v1/overbooking/recommendations", 200, query={"days": 30})
    assert [r["provider"] for r in recommendations["recommendations"]][:1] == ["dr-a"]
