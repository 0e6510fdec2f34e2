"""Fuzzing every endpoint with hypothesis: no input, however malformed, gets a 500.

Bodies mix the right field names with wrong types, naive and absurd datetimes, huge
strings and numbers; every answer must be a 2xx, or a 4xx in the error envelope.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
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
]
GETS = [
    "/api/v1/slots",
    "/api/v1/appointments",
    "/api/v1/waitlist",
    "/api/v1/patients",
    "/api/v1/stats",
    "/api/v1/appointments/abc",
    "/api/v1/patients/%00",
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
        error = response.json()["error"]
        assert error["code"] and error["message"]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from(POSTS), body=BODIES, raw=st.booleans())
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
def test_gets_never_500(small_clinic, client, desk_token, path, params):
    response = client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {desk_token}")
    assert_answered(response)
