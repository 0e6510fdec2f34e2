"""My calendar at the front desk: a provider makes, replaces and revokes their own feed link."""

from __future__ import annotations

import re

import pytest

from calendars.models import CalendarFeed
from calendars.services import feed_create
from scheduling.tests.conftest import make_user

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "calendar-feed"}
PAGE = "/my-calendar/"


@pytest.fixture
def doctor_client(client, clinician):
    client.force_login(clinician)
    return client


def shown_url(response) -> str:
    match = re.search(r'id="calendar-url"[^>]*value="([^"]+)"', response.content.decode())
    assert match, "the new link is on the page"
    return match.group(1)


def test_the_page_offers_a_provider_their_feed(doctor_client, small_clinic):
    page = doctor_client.get(PAGE).content.decode()
    assert 'aria-current="page">My calendar' in page.replace("\n", "")
    assert "Create my calendar link" in page and small_clinic["providers"][0].name in page


def test_creating_shows_the_url_once_and_it_works(doctor_client, small_clinic):
    created = doctor_client.post(PAGE, {"action": "create"}, **HX)

    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    url = shown_url(created)
    assert url.startswith("http://testserver/calendar/") and url.endswith(".ics")
    assert f'href="webcal://{url.removeprefix("http://")}"' in created.content.decode()
    feed = CalendarFeed.objects.get()
    assert feed.provider == small_clinic["providers"][0] and feed.created_by.username == "doc-a"
    token = url.removeprefix("http://testserver/calendar/").removesuffix(".ics")
    assert feed.token_hash == CalendarFeed.hash(token)
    assert doctor_client.get(url.removeprefix("http://testserver")).status_code == 200

    again = doctor_client.get(PAGE).content.decode()
    assert token not in again and feed.prefix in again  # shown once; then only its beginning


def test_replacing_stops_the_old_link_at_once(doctor_client):
    old = shown_url(doctor_client.post(PAGE, {"action": "create"}, **HX))
    new = shown_url(doctor_client.post(PAGE, {"action": "create"}, **HX))

    assert old != new
    assert doctor_client.get(old.removeprefix("http://testserver")).status_code == 404
    assert doctor_client.get(new.removeprefix("http://testserver")).status_code == 200


def test_revoking_stops_the_link_and_leaves_other_providers_feeds(doctor_client, small_clinic):
    url = shown_url(doctor_client.post(PAGE, {"action": "create"}, **HX)).removeprefix("http://testserver")
    other, _ = feed_create(provider=small_clinic["providers"][1])

    revoked = doctor_client.post(PAGE, {"action": "revoke"}, **HX)

    assert revoked.status_code == 200 and "no longer works" in revoked.content.decode()
    assert "Create my calendar link" in revoked.content.decode()
    assert doctor_client.get(url).status_code == 404
    assert list(CalendarFeed.objects.live()) == [other]


def test_without_htmx_the_whole_page_answers(doctor_client):
    response = doctor_client.post(PAGE, {"action": "create"})
    assert response.status_code == 200 and "<html" in response.content.decode()
    assert shown_url(response)


def test_an_unknown_action_is_refused(doctor_client):
    response = doctor_client.post(PAGE, {"action": "delete-everything"}, **HX)
    assert response.status_code == 400 and response["HX-Retarget"] == "#alert"
    assert not CalendarFeed.objects.exists()


def test_a_user_who_is_no_provider_is_told_and_cannot_create(client, desk, small_clinic):
    client.force_login(desk)
    assert "not linked to a provider" in client.get(PAGE).content.decode()

    refused = client.post(PAGE, {"action": "create"}, **HX)

    assert refused.status_code == 403 and "not linked to a provider" in refused.content.decode()
    assert not CalendarFeed.objects.exists()


def test_anonymous_and_roleless_users_are_turned_away(client, django_user_model, small_clinic):
    assert client.get(PAGE)["Location"] == f"/login/?next={PAGE}"
    client.force_login(make_user(django_user_model, "nobody", role=None))
    assert client.post(PAGE, {"action": "create"}).status_code == 403
    assert not CalendarFeed.objects.exists()
