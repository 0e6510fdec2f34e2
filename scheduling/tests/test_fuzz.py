"""Fuzzing every endpoint with hypothesis: no input, however malformed, gets a 500.

Bodies mix the right field names with wrong types, naive and absurd datetimes, huge
strings and numbers; every answer must be a 2xx, or a 4xx in the error envelope. Dates and
datetimes at the very ends of Python's calendar (years 1 and 9999), unknown paths with and
without a trailing slash, wrong methods and bodies over Django's upload limit are always
among the examples (issue 10).
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

FIELDS = [
    "patient",
    "appointment_type",
    "provider",
    "room",
    "start",
    "overbook",
    "note",
    "reason",
    "earliest",
    "latest",
    "code",
    "first_name",
    "last_name",
    "birth_date",
    "phone",
    "email",
    "backfill_of",
]
# The ends of Python's calendar: a day's end, a zone's offset or an appointment's length
# from here overflows, unless the API refuses the date first.
EDGE_DATETIMES = [
    "9999-12-31T23:59+00:00",
    "9999-12-31T23:59:59.999999-12:00",
    "0001-01-01T00:00+14:00",
    "0001-01-01T00:00:00Z",
]
EDGE_DATES = ["9999-12-31", "9999-12-30", "0001-01-01", "0001-01-02"]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "p-1",
            "consult",
            "dr-a",
            "r1",
            "2027-03-08T09:00:00",
            "2027-03-08T09:00:00+01:00",
            "9999-12-31T23:59:59+14:00",
            "0001-01-01T00:00:00Z",
            "2027-02-30",
            "",
            "x" * 5000,
            *EDGE_DATETIMES,
            *EDGE_DATES,
        ]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=8),
    st.dictionaries(st.text(max_size=10), VALUES, max_size=3),
    VALUES,
)
POSTS = [
    "/api/v1/appointments",
    "/api/v1/appointments/1/cancel",
    "/api/v1/appointments/1/reschedule",
    "/api/v1/appointments/1/confirm",
    "/api/v1/appointments/99999999999999999999/check-in",
    "/api/v1/waitlist",
    "/api/v1/patients",
    "/api/v1/appointments/x/",
    "/api/v1/appointments/",
    "/api/v2/appointments",
]
GETS = [
    "/api/v1/slots",
    "/api/v1/appointments",
    "/api/v1/waitlist",
    "/api/v1/patients",
    "/api/v1/stats",
    "/api/v1/appointments/abc",
    "/api/v1/patients/%00",
    "/api/v1/slots/",
    "/api/v1/appointments/1/cancel",
    "/api/",
]
QUERY_KEYS = [
    "appointment_type",
    "date_from",
    "date_to",
    "provider",
    "patient",
    "overbook",
    "limit",
    "date",
    "status",
    "q",
    "clinic",
]


def assert_answered(response) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), response.content[:300]
        error = response.json()["error"]
        assert error["code"] and error["message"]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from(POSTS), body=BODIES, raw=st.booleans())
@example(path="/api/v1/appointments", body={"start": "9999-12-31T23:59+00:00"}, raw=False)
@example(path="/api/v1/appointments", body={"start": "0001-01-01T00:00+14:00"}, raw=False)
@example(
    path="/api/v1/appointments",
    body={"patient": "p-1", "appointment_type": "consult", "provider": "dr-a", "room": "r1"}
    | {"start": "9999-12-31T23:59+00:00"},
    raw=False,
)
@example(
    path="/api/v1/appointments",
    body={"patient": "p-1", "appointment_type": "consult", "provider": "dr-a", "room": "r1"}
    | {"start": "0001-01-01T00:00+14:00"},
    raw=False,
)
@example(path="/api/v1/appointments/1/reschedule", body={"start": "9999-12-31T23:59+00:00"}, raw=False)
@example(path="/api/v1/waitlist", body={"earliest": "0001-01-01", "latest": "9999-12-31"}, raw=False)
@example(path="/api/v1/appointments/x/", body={}, raw=False)
def test_posts_never_500(small_clinic, call, client, desk_token, path, body, raw):
    data = json.dumps(body) if not raw else json.dumps(body)[:-1] if json.dumps(body) else "{"
    response = client.post(
        path, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {desk_token}"
    )
    assert_answered(response)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(GETS),
    params=st.dictionaries(
        st.sampled_from(QUERY_KEYS),
        st.one_of(
            st.text(max_size=30),
            st.sampled_from(["consult", "2027-03-08", "2027-03-01", "true", "0", "1001", "-1", "dr-a"]),
        ),
        max_size=6,
    ),
)
@example(path="/api/v1/appointments", params={"date": "9999-12-31"})
@example(path="/api/v1/appointments", params={"date": "0001-01-01"})
@example(path="/api/v1/stats", params={"date": "9999-12-31"})
@example(path="/api/v1/stats", params={"date": "0001-01-01"})
@example(
    path="/api/v1/slots",
    params={"appointment_type": "consult", "date_from": "9999-12-30", "date_to": "9999-12-31"},
)
@example(
    path="/api/v1/slots",
    params={"appointment_type": "consult", "date_from": "0001-01-01", "date_to": "0001-01-02"},
)
@example(path="/api/v1/slots/", params={})
def test_gets_never_500(small_clinic, client, desk_token, path, params):
    response = client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {desk_token}")
    assert_answered(response)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(POSTS + GETS),
    method=st.sampled_from(["get", "post", "put", "patch", "delete", "options"]),
    with_token=st.booleans(),
)
def test_any_method_on_any_path_is_answered_in_the_envelope(
    small_clinic, desk_token, path, method, with_token
):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)  # CSRF as a real client meets it
    headers = {"HTTP_AUTHORIZATION": f"Bearer {desk_token}"} if with_token else {}
    assert_answered(getattr(strict, method)(path, **headers))


BODY_TAKERS = {
    "/api/v1/appointments",
    "/api/v1/appointments/1/cancel",
    "/api/v1/appointments/1/reschedule",
    "/api/v1/waitlist",
    "/api/v1/patients",
}


@pytest.mark.parametrize("path", POSTS)
def test_a_body_over_the_upload_limit_is_never_500(small_clinic, client, desk_token, path):
    body = json.dumps({"note": "x" * django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
    response = client.post(
        path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {desk_token}"
    )
    assert_answered(response)
    if path in BODY_TAKERS:  # the others never read a body; unknown paths are a 404
        assert response.status_code == 413, response.content
