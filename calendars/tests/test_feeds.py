"""A provider's calendar feed: what it shows, what it never shows, its secret URL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from calendars import services
from calendars.models import CalendarFeed
from calendars.tests.conftest import NOTE, SECRET_PATIENT, at, book, events, parsed
from clinic.errors import ValidationFailed
from scheduling import services as scheduling_services
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def feed(small_clinic):
    """dr-a's feed: (row, its path)."""
    row, raw = services.feed_create(provider=small_clinic["providers"][0])
    return row, f"/calendar/{raw}.ics"


def test_the_feed_shows_the_providers_active_appointments_of_the_next_eight_weeks(
    client, small_clinic, patient, feed
):
    c = small_clinic
    mine = book(c, patient, hour=9, note=NOTE)
    book(c, c["patients"][1], hour=9, provider=1, room=1)  # dr-b's: not in dr-a's feed
    cancelled = book(c, c["patients"][2], hour=10)
    scheduling_services.appointment_cancel(appointment_id=cancelled.pk, reason="ill")
    now = timezone.now()
    # Loaded as they are, outside what a booking may do: one past the eight weeks, one earlier today.
    AppointmentFactory(
        clinic=c["clinic"],
        provider=c["providers"][0],
        patient=c["patients"][3],
        appointment_type=c["consult"],
        room=c["rooms"][0],
        start=now + dt.timedelta(weeks=8, days=1),
    )
    this_morning = AppointmentFactory(
        clinic=c["clinic"],
        provider=c["providers"][0],
        patient=c["patients"][4],
        appointment_type=c["consult"],
        room=c["rooms"][1],
        start=at(c, timezone.localdate(now, c["clinic"].tz), 0, 5),
    )

    response = client.get(feed[1])

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = parsed(response.content)
    assert [e["UID"] for e in events(calendar)] == [
        f"busy-{this_morning.pk}@riverside.clinic-scheduling-engine",
        f"busy-{mine.pk}@riverside.clinic-scheduling-engine",
    ]
    event = events(calendar)[1]
    assert str(event["SUMMARY"]) == "Consultation · O. B."
    assert str(event["LOCATION"]) == c["rooms"][0].name
    assert str(event["TRANSP"]) == "OPAQUE" and str(event["CLASS"]) == "PRIVATE"
    start = event.decoded("DTSTART")
    assert start == mine.start and str(start.tzinfo) == "Europe/Berlin"
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]


def test_nothing_in_a_feed_names_a_patient(client, small_clinic, patient, feed):
    book(small_clinic, patient, hour=9, note=NOTE)

    body = client.get(feed[1]).content

    assert b"BEGIN:VEVENT" in body
    unfolded = body.replace(b"\r\n ", b"").decode()
    digits = "".join(ch for ch in unfolded if ch.isdigit())
    for value in (*SECRET_PATIENT.values(), NOTE, "Ottilie", "Brennecke", "example.org"):
        assert value.lower() not in unfolded.lower(), value
    assert "55571234" not in digits  # the phone, however it would be punctuated


def test_revoked_and_unknown_tokens_get_the_same_404(client, small_clinic, feed):
    row, path = feed
    assert client.get(path).status_code == 200

    services.feeds_revoke(CalendarFeed.objects.filter(pk=row.pk))
    revoked = client.get(path)
    unknown = client.get("/calendar/" + "x" * 43 + ".ics")

    assert revoked.status_code == unknown.status_code == 404
    assert revoked.content == unknown.content
    assert client.get("/calendar/not%20a%20token.ics").status_code == 404


def test_only_a_hash_of_the_token_is_stored_and_a_provider_has_one_live_feed(small_clinic):
    provider = small_clinic["providers"][0]
    first, raw = services.feed_create(provider=provider)
    assert len(raw) >= 43 and raw not in str(list(CalendarFeed.objects.values_list()))
    assert first.token_hash == CalendarFeed.hash(raw) and first.prefix == raw[:8]

    with pytest.raises(ValidationFailed):
        services.feed_create(provider=provider)
    second, other = services.feed_create(provider=provider, replace=True)

    first.refresh_from_db()
    assert first.revoked_at is not None and second.revoked_at is None and other != raw
    assert list(CalendarFeed.objects.live()) == [second]


def test_a_rescheduled_visit_keeps_its_uid_with_a_higher_sequence(client, small_clinic, patient, feed):
    first = book(small_clinic, patient, hour=9)
    before = events(parsed(client.get(feed[1]).content))

    moved, _, _ = scheduling_services.appointment_reschedule(
        appointment_id=first.pk, start=at(small_clinic, small_clinic["day"], 11)
    )
    after = events(parsed(client.get(feed[1]).content))

    assert (
        [e["UID"] for e in after]
        == [e["UID"] for e in before]
        == [f"busy-{first.pk}@riverside.clinic-scheduling-engine"]
    )
    assert (before[0]["SEQUENCE"], after[0]["SEQUENCE"]) == (0, 1)
    assert after[0].decoded("DTSTART") == moved.start


def test_an_unchanged_feed_answers_304_and_is_cached_privately(client, small_clinic, patient, feed):
    book(small_clinic, patient, hour=9)
    first = client.get(feed[1])
    assert first["Cache-Control"] == "private, max-age=300"
    assert first["ETag"]

    again = client.get(feed[1], HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""

    book(small_clinic, small_clinic["patients"][1], hour=10)  # the schedule changed
    changed = client.get(feed[1], HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and len(events(parsed(changed.content))) == 2


def test_a_fetch_is_noted_at_most_every_few_minutes(client, small_clinic, feed):
    row, path = feed
    client.get(path)
    row.refresh_from_db()
    noted = row.last_used_at
    assert noted is not None
    client.get(path)
    row.refresh_from_db()
    assert row.last_used_at == noted


def test_only_reading_methods_are_answered(client, feed):
    assert client.post(feed[1]).status_code == 405
    assert client.head(feed[1]).status_code == 200


def test_the_logs_never_show_a_feeds_token(client, feed, caplog):
    caplog.set_level("INFO")
    token = feed[1].removeprefix("/calendar/").removesuffix(".ics")
    unknown = "u" * 43

    client.get(feed[1])
    client.get(f"/calendar/{unknown}.ics")  # Django logs a 404 with its path, too

    access = [r for r in caplog.records if r.name == "clinic.access"]
    assert [r.path for r in access] == ["/calendar/<token>.ics"] * 2
    assert any(r.name == "django.request" for r in caplog.records)
    for record in caplog.records:
        assert token not in record.getMessage() and unknown not in record.getMessage()


def test_a_poll_costs_a_fixed_number_of_queries(client, small_clinic, feed, django_assert_num_queries):
    for hour in (9, 10, 11):
        moved = book(small_clinic, small_clinic["patients"][hour], hour=hour)
    scheduling_services.appointment_reschedule(
        appointment_id=moved.pk, start=at(small_clinic, small_clinic["day"], 14)
    )
    # The feed, its appointments, their reschedule chains, and the note of its use.
    with django_assert_num_queries(4):
        assert client.get(feed[1]).status_code == 200
    with django_assert_num_queries(3):  # the use was noted a moment ago
        assert client.get(feed[1]).status_code == 200
