"""Both calendar doors through a real server and a real HTTP client (``requests``): what a
calendar app and an API client meet, the API's authentication and scoping included."""

from __future__ import annotations

import pytest
import requests

from calendars import services as feeds
from calendars.models import CalendarFeed
from calendars.tests.conftest import book, events, parsed
from clinic.models import ApiToken, Membership
from clinic.tests.factories import ClinicFactory
from scheduling.tests.conftest import make_user
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10


@pytest.fixture
def world(small_clinic, patient, clinician, desk, django_user_model):
    """dr-a's and dr-b's appointments at riverside, one at hillside, and a token per caller."""
    c = small_clinic
    hillside = ClinicFactory(code="hillside", name="Hillside")
    nobody = make_user(django_user_model, "no-role", role=None)
    for user in (desk, nobody):
        Membership.objects.create(user=user, clinic=c["clinic"])
    return {
        "dr_a": book(c, patient, hour=9),
        "dr_b": book(c, c["patients"][1], hour=9, provider=1, room=1),
        "hillside": AppointmentFactory(clinic=hillside),
        "tokens": {
            "desk": ApiToken.issue(desk)[1],
            "clinician": ApiToken.issue(clinician)[1],
            "nobody": ApiToken.issue(nobody)[1],
        },
    }


def get(live_server, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{live_server.url}{path}", headers=headers, timeout=TIMEOUT, **kwargs)


def error_code(response: requests.Response) -> str:
    assert response.headers["Content-Type"] == "application/json", response.text[:200]
    return response.json()["error"]["code"]


def test_an_api_client_gets_the_invitation(live_server, world):
    response = get(live_server, f"/api/v1/appointments/{world['dr_a'].pk}.ics", world["tokens"]["desk"])

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    filename = f"appointment-{world['dr_a'].pk}.ics"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert len(events(parsed(response.content))) == 1


@pytest.mark.parametrize(
    ("caller", "appointment", "query", "status", "code"),
    [
        (None, "dr_a", "", 401, "unauthorized"),
        ("not-a-token", "dr_a", "", 401, "unauthorized"),
        ("nobody", "dr_a", "", 403, "forbidden"),
        ("desk", "hillside", "", 404, "not_found"),  # another clinic's: as if it did not exist
        ("desk", "dr_a", "?clinic=hillside", 404, "not_found"),  # a clinic the caller is not in
        ("desk", None, "", 404, "not_found"),
        ("clinician", "dr_b", "", 404, "not_found"),  # another provider's, for a clinician
        ("desk", "dr_a", "?clinic=" + "x" * 65, 422, "validation_error"),
    ],
)
def test_the_invitation_refuses_as_the_api_does(live_server, world, caller, appointment, query, status, code):
    token = world["tokens"].get(caller, caller)
    appointment_id = world[appointment].pk if appointment else 999_999
    response = get(live_server, f"/api/v1/appointments/{appointment_id}.ics{query}", token)

    assert (response.status_code, error_code(response)) == (status, code)
    assert b"Hillside" not in response.content


def test_a_clinician_gets_their_own_providers_invitation(live_server, world):
    response = get(live_server, f"/api/v1/appointments/{world['dr_a'].pk}.ics", world["tokens"]["clinician"])
    assert response.status_code == 200


def test_a_staff_session_works_as_for_the_api(live_server, world, client, desk):
    client.force_login(desk)
    cookies = {"sessionid": client.cookies["sessionid"].value}

    response = get(live_server, f"/api/v1/appointments/{world['dr_a'].pk}.ics", cookies=cookies)

    assert response.status_code == 200


def test_other_methods_are_405_in_the_envelope(live_server, world):
    url = f"{live_server.url}/api/v1/appointments/{world['dr_a'].pk}.ics"
    headers = {"Authorization": f"Bearer {world['tokens']['desk']}"}
    response = requests.post(url, headers=headers, timeout=TIMEOUT)
    assert (response.status_code, error_code(response)) == (405, "method_not_allowed")


def test_a_calendar_app_subscribes_and_stops_seeing_a_revoked_feed(live_server, world, small_clinic):
    feed, raw = feeds.feed_create(provider=small_clinic["providers"][0])
    # webcal://host/calendar/<token>.ics: the app fetches the same address over http(s).
    url = f"{live_server.url}/calendar/{raw}.ics"

    subscribed = requests.get(url, timeout=TIMEOUT)
    assert subscribed.status_code == 200
    assert subscribed.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert [str(e["UID"]) for e in events(parsed(subscribed.content))] == [
        f"busy-{world['dr_a'].pk}@riverside.clinic-scheduling-engine"
    ]

    feeds.feeds_revoke(CalendarFeed.objects.filter(pk=feed.pk))
    assert requests.get(url, timeout=TIMEOUT).status_code == 404
