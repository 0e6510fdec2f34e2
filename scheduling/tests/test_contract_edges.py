"""The API contract at its edges (issue 10): no credentials is 401 even on a POST, dates at
the ends of the calendar and oversized bodies are client errors, and every answer under
/api/ is the JSON error envelope.

The credential tests run through a live server: Django's test client switches CSRF off,
which is how the 403-for-401 went unnoticed.
"""

from __future__ import annotations

import pytest
import requests
from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.test import Client

from .conftest import make_user
from .test_api_appointments import booking, local


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error
    return error


# --- 1. No credentials: 401, also on a POST; a session still needs its CSRF token ---------


@pytest.fixture
def live(live_server, small_clinic):
    return live_server.url, small_clinic


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/appointments"),
        ("post", "/api/v1/appointments/1/cancel"),
        ("post", "/api/v1/waitlist"),
        ("post", "/api/v1/patients"),
        ("patch", "/api/v1/patients/p-1"),
        ("get", "/api/v1/appointments"),
    ],
)
def test_no_credentials_is_401_unauthorized_through_a_live_server(live, method, path):
    url, small_clinic = live
    response = requests.request(method, f"{url}{path}", json=booking(small_clinic), timeout=10)
    assert_envelope(response, 401, "unauthorized")


@pytest.mark.django_db(transaction=True)
def test_a_bad_token_is_401_through_a_live_server(live):
    url, small_clinic = live
    response = requests.post(
        f"{url}/api/v1/appointments",
        json=booking(small_clinic),
        headers={"Authorization": "Bearer not-a-token"},
        timeout=10,
    )
    assert_envelope(response, 401, "unauthorized")


def _staff_session(django_user_model) -> str:
    user = make_user(django_user_model, "desk-browser")
    browser = Client()
    browser.force_login(user)
    return browser.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.mark.django_db(transaction=True)
def test_a_session_without_its_csrf_token_is_still_refused(live, django_user_model):
    url, small_clinic = live
    session = _staff_session(django_user_model)
    response = requests.post(
        f"{url}/api/v1/appointments",
        json=booking(small_clinic),
        cookies={settings.SESSION_COOKIE_NAME: session},
        timeout=10,
    )
    error = assert_envelope(response, 403, "forbidden")
    assert "CSRF" in error["message"]


@pytest.mark.django_db(transaction=True)
def test_a_session_with_its_csrf_token_books(live, django_user_model):
    url, small_clinic = live
    session = _staff_session(django_user_model)
    carrier = HttpRequest()
    token = get_token(carrier)  # the masked token a page would embed; the cookie holds the secret
    response = requests.post(
        f"{url}/api/v1/appointments",
        json=booking(small_clinic),
        cookies={
            settings.SESSION_COOKIE_NAME: session,
            settings.CSRF_COOKIE_NAME: carrier.META["CSRF_COOKIE"],
        },
        headers={"X-CSRFToken": token},
        timeout=10,
    )
    assert response.status_code == 201, response.content
    assert response.json()["created_by"] == "desk-browser"


# --- 2. Dates at the ends of Python's calendar, and bodies over Django's limit -----------

EDGE_GETS = [
    ("/api/v1/appointments?date=9999-12-31", "date"),
    ("/api/v1/appointments?date=0001-01-01", "date"),
    ("/api/v1/slots?appointment_type=consult&date_from=9999-12-30&date_to=9999-12-31", "date_from"),
    ("/api/v1/slots?appointment_type=consult&date_from=2027-03-01&date_to=9999-12-31", "date_to"),
    ("/api/v1/slots?appointment_type=consult&date_from=0001-01-01&date_to=0001-01-02", "date_from"),
    ("/api/v1/stats?date=9999-12-31", "date"),
    ("/api/v1/stats?date=0001-01-01", "date"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "field"), EDGE_GETS)
def test_dates_at_the_calendars_edge_are_422_naming_the_field(small_clinic, call, path, field):
    error = assert_envelope(call("get", path), 422, "validation_error")
    assert field in error["details"]["fields"], error


EDGE_STARTS = ["9999-12-31T23:59+00:00", "0001-01-01T00:00+14:00", "9999-12-31T23:59:59-12:00"]


@pytest.mark.django_db
@pytest.mark.parametrize("start", EDGE_STARTS)
def test_a_booking_at_the_calendars_edge_is_422_on_start(small_clinic, call, start):
    response = call("post", "/api/v1/appointments", booking(small_clinic) | {"start": start})
    error = assert_envelope(response, 422, "validation_error")
    assert set(error["details"]["fields"]) == {"start"}


@pytest.mark.django_db
@pytest.mark.parametrize("start", EDGE_STARTS)
def test_a_reschedule_to_the_calendars_edge_is_422_on_start(small_clinic, call, start):
    booked = call("post", "/api/v1/appointments", booking(small_clinic)).json()
    response = call("post", f"/api/v1/appointments/{booked['id']}/reschedule", {"start": start})
    error = assert_envelope(response, 422, "validation_error")
    assert set(error["details"]["fields"]) == {"start"}
    # Nothing changed.
    assert call("get", f"/api/v1/appointments/{booked['id']}").json()["status"] == "booked"


@pytest.mark.django_db
def test_waitlist_dates_at_the_calendars_edge_are_422(small_clinic, call):
    body = {"patient": "p-1", "appointment_type": "consult", "earliest": "0001-01-01", "latest": "9999-12-31"}
    error = assert_envelope(call("post", "/api/v1/waitlist", body), 422, "validation_error")
    assert set(error["details"]["fields"]) == {"earliest", "latest"}


@pytest.mark.django_db
def test_the_supported_range_still_works_at_its_ends(small_clinic, call):
    assert call("get", "/api/v1/appointments?date=2999-12-31").status_code == 200
    assert call("get", "/api/v1/stats?date=1900-01-01").status_code == 200
    slots = call("get", "/api/v1/slots?appointment_type=consult&date_from=2999-12-01&date_to=2999-12-31")
    assert slots.status_code == 200, slots.content
    far = call("post", "/api/v1/appointments", booking(small_clinic) | {"start": "2999-12-31T23:45+00:00"})
    assert_envelope(far, 422, "slot_unavailable")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
@pytest.mark.parametrize("path", ["/api/v1/appointments", "/api/v1/waitlist", "/api/v1/patients"])
def test_a_body_over_the_upload_limit_is_a_json_413(small_clinic, client, desk_token, path, content_type):
    too_big = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    response = client.post(
        path, data="x" * too_big, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {desk_token}"
    )
    error = assert_envelope(response, 413, "payload_too_large")
    assert error["details"]["max_bytes"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE


@pytest.mark.django_db
def test_too_many_query_fields_is_a_json_400(small_clinic, client, desk_token):
    query = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = client.get(f"/api/v1/appointments?{query}", HTTP_AUTHORIZATION=f"Bearer {desk_token}")
    assert_envelope(response, 400, "bad_request")


# --- 3. Every answer under /api/ is the envelope, whatever the method and path -----------


@pytest.fixture
def strict_client():
    return Client(enforce_csrf_checks=True)  # as a real client meets the middleware


@pytest.mark.django_db
@pytest.mark.parametrize("with_token", [False, True])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/appointments/x/"),
        ("post", "/api/v1/appointments/"),
        ("get", "/api/v1/slots/"),
        ("get", "/api/v1/nothing-here"),
        ("delete", "/api/v1/appointments/1/x/"),
        ("put", "/api/v2/slots"),
        ("get", "/api/"),
        ("post", "/api"),
        ("options", "/api/v1/slots/"),
    ],
)
def test_unknown_api_paths_are_a_json_404(small_clinic, strict_client, desk_token, method, path, with_token):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {desk_token}"} if with_token else {}
    response = getattr(strict_client, method)(path, **headers)
    assert_envelope(response, 404, "not_found")


@pytest.mark.django_db
def test_a_trailing_slash_says_where_the_endpoint_is(small_clinic, strict_client):
    error = assert_envelope(strict_client.get("/api/v1/slots/"), 404, "not_found")
    assert "/api/v1/slots." in error["message"]
    error = assert_envelope(strict_client.get("/api/v1/nothing/"), 404, "not_found")
    assert "trailing slash" not in error["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/api/v1/slots", {"GET"}),
        ("put", "/api/v1/appointments", {"GET", "POST"}),
        ("get", "/api/v1/appointments/1/cancel", {"POST"}),
        ("delete", "/api/v1/patients/p-1", {"GET", "PATCH"}),
    ],
)
def test_a_wrong_method_on_a_known_path_is_a_json_405(small_clinic, strict_client, method, path, allowed):
    response = getattr(strict_client, method)(path)
    error = assert_envelope(response, 405, "method_not_allowed")
    assert set(error["details"]["allowed"]) == allowed
    assert {m.strip() for m in response["Allow"].split(",")} == allowed


@pytest.mark.django_db
def test_pages_outside_the_api_keep_their_html_answers(small_clinic, strict_client):
    response = strict_client.get("/admin/no-such-page/")
    assert not response.headers.get("Content-Type", "").startswith("application/json")


@pytest.mark.django_db
def test_the_api_still_answers_a_known_path(small_clinic, strict_client, desk_token):
    day = small_clinic["day"]
    response = strict_client.get(
        f"/api/v1/slots?appointment_type=consult&date_from={day}&date_to={day}",
        HTTP_AUTHORIZATION=f"Bearer {desk_token}",
    )
    assert response.status_code == 200
    assert response.json()["slots"][0]["start"] == local(small_clinic, "08:00")
