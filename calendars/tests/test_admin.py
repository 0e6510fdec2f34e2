"""Calendar feeds in the admin: created with the URL shown once, revoked, never edited."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from calendars.models import CalendarFeed
from calendars.services import feed_create
from scheduling.tests.conftest import make_user

pytestmark = pytest.mark.django_db

ADD = reverse("admin:calendars_calendarfeed_add")
CHANGELIST = reverse("admin:calendars_calendarfeed_changelist")


def added_url(response) -> str:
    messages = " ".join(str(m) for m in get_messages(response.wsgi_request))
    match = re.search(r"http://testserver(/calendar/[A-Za-z0-9_-]+\.ics)", messages)
    assert match, messages
    return match.group(1)


def test_the_admin_creates_a_feed_and_shows_its_url_once(admin_client, small_clinic):
    provider = small_clinic["providers"][0]

    response = admin_client.post(ADD, {"provider": provider.pk})

    assert response.status_code == 302
    path = added_url(response)
    feed = CalendarFeed.objects.get()
    assert feed.provider == provider and feed.created_by.username == "admin"
    assert admin_client.get(path).status_code == 200
    assert path in admin_client.get(response["Location"]).content.decode()  # the message, once
    listing = admin_client.get(CHANGELIST).content.decode()
    assert feed.prefix in listing and path.removeprefix("/calendar/") not in listing


def test_a_second_feed_needs_replace_which_revokes_the_first(admin_client, small_clinic):
    provider = small_clinic["providers"][0]
    first, _ = feed_create(provider=provider)

    refused = admin_client.post(ADD, {"provider": provider.pk})
    assert refused.status_code == 200 and "already has a calendar feed" in refused.content.decode()
    assert CalendarFeed.objects.count() == 1

    replaced = admin_client.post(ADD, {"provider": provider.pk, "replace": "on"})
    assert replaced.status_code == 302
    first.refresh_from_db()
    assert first.revoked_at is not None and CalendarFeed.objects.live().count() == 1


def test_the_revoke_action_stops_the_feeds(admin_client, small_clinic):
    feed, raw = feed_create(provider=small_clinic["providers"][0])

    admin_client.post(CHANGELIST, {"action": "revoke", "_selected_action": [feed.pk]})

    assert admin_client.get(f"/calendar/{raw}.ics").status_code == 404


def test_the_admin_role_manages_feeds_and_the_front_desk_does_not(client, django_user_model, small_clinic):
    client.force_login(make_user(django_user_model, "clinic-admin", "admin"))
    assert client.get(CHANGELIST).status_code == 200
    assert client.post(ADD, {"provider": small_clinic["providers"][0].pk}).status_code == 302

    client.force_login(make_user(django_user_model, "desk-x", "front_desk"))
    assert client.get(CHANGELIST).status_code == 403
    assert client.post(ADD, {"provider": small_clinic["providers"][1].pk}).status_code == 403
    assert CalendarFeed.objects.count() == 1
