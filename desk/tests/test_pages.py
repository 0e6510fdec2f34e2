"""The waitlist, patient and stats pages and their fragments, through the test client."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from desk.views.stats import hours, percent
from notifications.models import EventType, OutboxEvent
from scheduling import jobs, overview, services
from scheduling.models import AppointmentHistory, NoShowRate, WaitlistEntry, WaitlistStatus
from scheduling.tests import conftest as scheduling_fixtures
from scheduling.tests.conftest import make_user

small_clinic = scheduling_fixtures.small_clinic  # the scheduling tests' clinic, shared

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
WAITLIST = reverse("desk:waitlist")
STATS = reverse("desk:stats")


@pytest.fixture
def client_as(client, django_user_model):
    """client_as(role): the test client signed in as a new staff user with ``role``
    ("front_desk", "clinician", "admin", or None for a user without one)."""
    made = []

    def _client_as(role: str | None):
        made.append(role)
        client.force_login(make_user(django_user_model, f"{role or 'norole'}-{len(made)}", role))
        return client

    return _client_as


def hx(target: str) -> dict[str, str]:
    return {**HX, "HTTP_HX_TARGET": target}


def post_add(client, day: dt.date, **fields):
    """The waitlist's add form sent as the page sends it: a consultation on ``day``."""
    data = {"action": "add", "appointment_type": "consult", "earliest": day, "latest": day, **fields}
    return client.post(WAITLIST, data, **hx("waitlist-add"))


def at(setup, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=setup["clinic"].tz)


def book(setup, patient, start: dt.datetime, *, provider: int = 0, room: int = 0, now=None):
    return services.appointment_book(
        clinic=setup["clinic"],
        patient=patient,
        appointment_type=setup["consult"],
        provider=setup["providers"][provider],
        room=setup["rooms"][room],
        start=start,
        now=now,
    )


def wait(setup, patient, *, earliest: dt.date, latest: dt.date, provider=None, note: str = ""):
    return services.waitlist_add(
        clinic=setup["clinic"],
        patient=patient,
        appointment_type=setup["consult"],
        provider=provider,
        earliest=earliest,
        latest=latest,
        note=note,
    )


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def row_cells(body: str, table_id: str, code: str) -> list[str]:
    """The text of each cell of the row ``data-code=code`` in table ``table_id``."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', body, re.S)
    assert table, f"no table {table_id}"
    row = re.search(rf'<tr data-code="{re.escape(code)}">(.*?)</tr>', table.group(0), re.S)
    assert row, f"no row {code} in {table_id}"
    return [text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)]


# --- Who may see what -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [WAITLIST, reverse("desk:patient", args=["p-1"]), STATS], ids=["waitlist", "patient", "stats"]
)
def test_anonymous_user_is_sent_to_login(client, small_clinic, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_anonymous_fragment_request_is_told_to_reload_into_login(client, small_clinic):
    response = client.get(STATS, **HX)
    assert response.status_code == 401
    assert response["HX-Redirect"].startswith("/login/")


@pytest.mark.parametrize(
    "url", [WAITLIST, reverse("desk:patient", args=["p-1"]), STATS], ids=["waitlist", "patient", "stats"]
)
def test_user_without_a_role_is_refused(client_as, small_clinic, url):
    response = client_as(None).get(url)
    assert response.status_code == 403
    assert "Your role may not" in response.content.decode()


@pytest.mark.parametrize(
    "url", [WAITLIST, reverse("desk:patient", args=["p-1"]), STATS], ids=["waitlist", "patient", "stats"]
)
def test_clinician_sees_every_page(client_as, small_clinic, url):
    assert client_as("clinician").get(url).status_code == 200


# --- Waitlist ---------------------------------------------------------------------------


def test_waitlist_lists_open_entries_earliest_wanted_first(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    later = wait(s, s["patients"][0], earliest=day + dt.timedelta(days=3), latest=day + dt.timedelta(days=9))
    sooner = wait(
        s,
        s["patients"][1],
        earliest=day,
        latest=day + dt.timedelta(days=2),
        provider=s["providers"][1],
        note="mornings",
    )
    closed = wait(s, s["patients"][2], earliest=day, latest=day)
    services.waitlist_close(entry_id=closed.pk, clinic=s["clinic"], reason="booked elsewhere")

    body = client_as("front_desk").get(WAITLIST).content.decode()

    assert body.index(f'id="entry-{sooner.pk}"') < body.index(f'id="entry-{later.pk}"')
    assert f'id="entry-{closed.pk}"' not in body
    assert reverse("desk:patient", args=[sooner.patient.code]) in body
    assert f"with {s['providers'][1].name}" in body and "any provider" in body
    assert "mornings" in body
    assert "2 waiting" in text(body)
    assert 'id="waitlist-form"' in body  # the front desk may add


def test_each_entry_links_to_find_a_slot_for_what_it_waits_for(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    wait(s, s["patients"][0], earliest=day, latest=day + dt.timedelta(days=4), provider=s["providers"][1])
    body = client_as("front_desk").get(WAITLIST).content.decode()
    query = f"patient=p-1&amp;appointment_type=consult&amp;provider=dr-b&amp;date_from={day}&amp;date_to="
    assert f'href="{reverse("desk:find")}?{query}{day + dt.timedelta(days=4)}"' in body


def test_waitlist_shows_offers_made_to_the_patient_after_the_entry(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    waiting, holder = s["patients"][0], s["patients"][1]
    entry = wait(s, waiting, earliest=day, latest=day)
    appointment = book(s, holder, at(s, day, 9))
    services.appointment_cancel(appointment_id=appointment.pk, reason="ill")
    offer = OutboxEvent.objects.get(event_type=EventType.WAITLIST_SLOT_AVAILABLE)
    assert offer.payload["patient"]["code"] == waiting.code

    body = client_as("front_desk").get(WAITLIST).content.decode()
    row = re.search(rf'<tr id="entry-{entry.pk}">.*?</tr>', body, re.S).group(0)
    assert f"{at(s, day, 9):%a %-d %b %H:%M}" in text(row)
    assert s["providers"][0].name in row

    # An offer older than the entry is not one it got.
    WaitlistEntry.objects.filter(pk=entry.pk).update(created_at=offer.created_at + dt.timedelta(seconds=1))
    body = client_as("front_desk").get(WAITLIST).content.decode()
    row = re.search(rf'<tr id="entry-{entry.pk}">.*?</tr>', body, re.S).group(0)
    assert "none yet" in row


def test_open_waitlist_reads_in_two_queries_whatever_its_length(small_clinic, django_assert_num_queries):
    s, day = small_clinic, small_clinic["day"]
    for patient in s["patients"][:8]:
        wait(s, patient, earliest=day, latest=day + dt.timedelta(days=3), provider=s["providers"][0])
    with django_assert_num_queries(2):
        rows = overview.open_waitlist(s["clinic"])
        assert [r.entry.provider.code for r in rows] == ["dr-a"] * 8


def test_clinician_sees_the_waitlist_without_add_or_remove(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    wait(s, s["patients"][0], earliest=day, latest=day)
    body = client_as("clinician").get(WAITLIST).content.decode()
    assert s["patients"][0].last_name in body
    assert 'id="waitlist-form"' not in body
    assert 'name="reason"' not in body


def test_clinician_cannot_add_or_remove_entries(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    entry = wait(s, s["patients"][0], earliest=day, latest=day)
    client = client_as("clinician")

    removed = client.post(WAITLIST, {"action": "remove", "entry": entry.pk, "reason": "no"}, **HX)
    added = post_add(client, day, patient="p-2")
    chosen = client.get(WAITLIST, {"patient": "p-2"}, **hx("waitlist-add"))

    assert removed.status_code == added.status_code == chosen.status_code == 403
    assert "may not manage the waitlist" in removed.content.decode()
    assert WaitlistEntry.objects.get(pk=entry.pk).status == WaitlistStatus.OPEN
    assert WaitlistEntry.objects.count() == 1


def test_front_desk_adds_an_entry_and_the_list_shows_it(client_as, small_clinic):
    day = small_clinic["day"]
    response = post_add(
        client_as("front_desk"),
        day,
        patient="p-3",
        provider="dr-b",
        latest=(day + dt.timedelta(days=4)).isoformat(),
        note="call after 4 pm",
    )
    assert response.status_code == 200
    entry = WaitlistEntry.objects.get()
    assert (entry.patient.code, entry.provider.code, entry.note) == ("p-3", "dr-b", "call after 4 pm")
    assert (entry.earliest, entry.latest) == (day, day + dt.timedelta(days=4))
    body = response.content.decode()
    assert 'id="waitlist-entries" class="wl-entries"' in body and 'hx-swap-oob="outerHTML"' in body
    assert f'id="entry-{entry.pk}"' in body
    assert 'hx-swap-oob="innerHTML:#status"' in body and "is on the waitlist for Consultation" in body
    # A fresh form for the next patient, the search focused.
    assert 'name="patient" value=""' in body and "autofocus" in body


def test_add_with_a_bad_range_keeps_everything_typed(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    response = post_add(
        client_as("front_desk"),
        day,
        patient="p-4",
        provider="dr-a",
        earliest=(day + dt.timedelta(days=5)).isoformat(),
        note="only Tuesdays",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "The latest date is before the earliest." in body
    assert 'aria-invalid="true"' in body
    assert "only Tuesdays" in body
    assert 'value="p-4"' in body and s["patients"][3].full_name in body
    assert '<option value="consult" selected>' in body and '<option value="dr-a" selected>' in body
    assert f'value="{(day + dt.timedelta(days=5)).isoformat()}"' in body
    assert not WaitlistEntry.objects.exists()


def test_add_without_a_patient_asks_for_one(client_as, small_clinic):
    day = small_clinic["day"]
    response = post_add(client_as("front_desk"), day, note="x")
    assert response.status_code == 422
    assert "Choose the patient" in response.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_add_for_an_unknown_patient_says_so(client_as, small_clinic):
    day = small_clinic["day"]
    response = post_add(client_as("front_desk"), day, patient="p-nobody")
    assert response.status_code == 422
    assert "No patient with code" in response.content.decode()


def test_patient_search_fragment_offers_each_match(client_as, small_clinic):
    patient = small_clinic["patients"][4]
    response = client_as("front_desk").get(WAITLIST, {"q": patient.last_name}, **hx("patient-results"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    values = [json.loads(html.unescape(v)) for v in re.findall(r"hx-vals='([^']*)'", body)]
    assert {"patient": patient.code} in values
    assert 'hx-target="#waitlist-add"' in body


def test_patient_search_fragment_says_when_nobody_matches(client_as, small_clinic):
    response = client_as("front_desk").get(WAITLIST, {"q": "Zzyzx"}, **hx("patient-results"))
    assert "No patient matches" in response.content.decode()


def test_choosing_a_patient_keeps_what_was_typed(client_as, small_clinic):
    patient = small_clinic["patients"][5]
    response = client_as("front_desk").get(
        WAITLIST,
        {
            "patient": patient.code,
            "appointment_type": "consult",
            "note": "after school",
            "earliest": "2030-01-07",
        },
        **hx("waitlist-add"),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="waitlist-add"')
    assert patient.full_name in body and f'value="{patient.code}"' in body
    assert "after school" in body and 'value="2030-01-07"' in body
    assert '<option value="consult" selected>' in body


def test_entries_fragment_is_the_list_alone(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    wait(s, s["patients"][0], earliest=day, latest=day)
    body = client_as("front_desk").get(WAITLIST, **hx("waitlist-entries")).content.decode()
    assert body.lstrip().startswith('<section id="waitlist-entries"')
    assert s["patients"][0].last_name in body
    assert "<html" not in body


def test_removing_an_entry_closes_it_and_it_disappears(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    entry = wait(s, s["patients"][0], earliest=day, latest=day)
    other = wait(s, s["patients"][1], earliest=day, latest=day)
    client = client_as("front_desk")

    response = client.post(
        WAITLIST,
        {"action": "remove", "entry": entry.pk, "reason": "booked by phone"},
        **hx("waitlist-entries"),
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="entry-{entry.pk}"' not in body and f'id="entry-{other.pk}"' in body
    assert "Removed " + s["patients"][0].full_name in body
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.CLOSED
    assert entry.close_reason == "booked by phone"
    assert f'id="entry-{entry.pk}"' not in client.get(WAITLIST).content.decode()


def test_removing_without_a_reason_asks_for_one(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    entry = wait(s, s["patients"][0], earliest=day, latest=day)
    response = client_as("front_desk").post(
        WAITLIST, {"action": "remove", "entry": entry.pk, "reason": "  "}, **hx("waitlist-entries")
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "Say why the entry is removed." in body
    assert re.search(rf'<tr id="entry-{entry.pk}">.*?<details open>', body, re.S)
    assert WaitlistEntry.objects.get(pk=entry.pk).status == WaitlistStatus.OPEN


def test_removing_an_entry_already_closed_is_refused_in_the_alert_region(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    entry = wait(s, s["patients"][0], earliest=day, latest=day)
    services.waitlist_close(entry_id=entry.pk, clinic=s["clinic"], reason="done")
    response = client_as("front_desk").post(
        WAITLIST, {"action": "remove", "entry": entry.pk, "reason": "again"}, **hx("waitlist-entries")
    )
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#alert"
    assert "already closed" in response.content.decode()


# --- Patient ----------------------------------------------------------------------------


def test_patient_page_shows_contact_preferences_appointments_and_history(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    patient = s["patients"][0]
    patient.birth_date = dt.date(1980, 5, 17)
    patient.preferred_days = ["mon", "wed"]
    patient.preferred_times = [["08:00", "11:00"]]
    patient.save()
    patient.preferred_providers.add(s["providers"][1])
    later = book(s, patient, at(s, day + dt.timedelta(days=2), 10))
    sooner = book(s, patient, at(s, day, 9))
    cancelled = book(s, patient, at(s, day + dt.timedelta(days=1), 9))
    services.appointment_cancel(appointment_id=cancelled.pk, reason="car broke down")
    long_ago = at(s, day - dt.timedelta(days=28), 9)
    old = book(s, patient, long_ago, now=long_ago - dt.timedelta(days=1))
    older = book(s, patient, long_ago - dt.timedelta(days=7), now=long_ago - dt.timedelta(days=8))

    response = client_as("front_desk").get(reverse("desk:patient", args=[patient.code]))

    assert response.status_code == 200
    body = response.content.decode()
    plain = text(body)
    assert patient.full_name in plain and patient.phone in plain and patient.email in plain
    assert "17 May 1980" in plain
    assert s["providers"][1].name in plain and "Monday, Wednesday" in plain and "08:00–11:00" in plain
    links = [reverse("desk:appointment", args=[a.pk]) for a in (sooner, later, cancelled, old, older)]
    positions = [body.index(f'href="{link}"') for link in links]
    upcoming, past = body.index('id="upcoming-title"'), body.index('id="past-title"')
    assert upcoming < positions[0] < positions[1] < past < positions[2] < positions[3] < positions[4]
    assert "car broke down" in plain
    assert f'href="{reverse("desk:find")}?patient={patient.code}"' in body
    history = body[body.index('id="history-title"') :]
    assert "Cancelled" in text(history) and "Booked" in text(history)
    assert AppointmentHistory.objects.filter(appointment__patient=patient).count() == 6
    assert text(history).count("the system") == 6  # booked by services without a user


def front_desk_scope(s):
    from clinic.access import Scope

    return Scope(user=None, clinic=s["clinic"], provider_id=None, own_provider_only=False)


def test_patient_record_reads_in_a_fixed_number_of_queries(small_clinic, django_assert_max_num_queries):
    s, day = small_clinic, small_clinic["day"]
    patient = s["patients"][0]
    for week in range(4):
        book(s, patient, at(s, day + dt.timedelta(days=7 * week), 9))
    wait(s, patient, earliest=day, latest=day + dt.timedelta(days=3))
    with django_assert_max_num_queries(7):
        record = overview.patient_record(front_desk_scope(s), patient.code, now=timezone.now())
        assert len(record.upcoming) == 4 and len(record.history) == 4 and len(record.waiting) == 1
        assert {h.appointment.appointment_type.name for h in record.history} == {"Consultation"}


def test_patient_page_offers_the_waitlist_with_the_patient_chosen(client_as, small_clinic):
    patient = small_clinic["patients"][0]
    client = client_as("front_desk")
    body = client.get(reverse("desk:patient", args=[patient.code])).content.decode()
    link = f"{WAITLIST}?patient={patient.code}"
    assert f'href="{link}"' in body
    page = client.get(link).content.decode()
    assert 'id="waitlist-patient"' in page and patient.full_name in page


def test_patient_history_names_who_did_it(client_as, small_clinic, django_user_model):
    s = small_clinic
    patient = s["patients"][0]
    appointment = book(s, patient, at(s, s["day"], 9))
    actor = django_user_model.objects.create_user("desk-anna", first_name="Anna", last_name="Desk")
    services.appointment_change_status(appointment_id=appointment.pk, action="confirm", actor=actor)
    body = client_as("front_desk").get(reverse("desk:patient", args=[patient.code])).content.decode()
    history = text(body[body.index('id="history-title"') :])
    assert "Confirmed" in history and "Anna Desk" in history


def test_unknown_patient_is_a_404_page(client_as, small_clinic):
    response = client_as("front_desk").get(reverse("desk:patient", args=["p-nobody"]))
    assert response.status_code == 404
    assert "No patient with code" in response.content.decode()


def test_patient_fragment_is_the_record_alone(client_as, small_clinic):
    patient = small_clinic["patients"][0]
    response = client_as("front_desk").get(reverse("desk:patient", args=[patient.code]), **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<article id="patient-record"')
    assert "<html" not in body


def test_clinician_gets_no_book_button_on_the_patient_page(client_as, small_clinic):
    patient = small_clinic["patients"][0]
    body = client_as("clinician").get(reverse("desk:patient", args=[patient.code])).content.decode()
    assert patient.full_name in body
    assert "Book for this patient" not in body


# --- Stats ------------------------------------------------------------------------------


@pytest.fixture
def busy_day(small_clinic):
    """Four bookings on the day (two providers), one cancelled and refilled, one cancelled."""
    s, day = small_clinic, small_clinic["day"]
    p = s["patients"]
    book(s, p[0], at(s, day, 8))
    book(s, p[1], at(s, day, 9), provider=1, room=1)
    refilled = book(s, p[2], at(s, day, 10))
    services.appointment_cancel(appointment_id=refilled.pk, reason="ill")
    services.appointment_book(
        clinic=s["clinic"],
        patient=p[3],
        appointment_type=s["consult"],
        provider=s["providers"][0],
        room=s["rooms"][0],
        start=at(s, day, 10),
        backfill_of=refilled,
    )
    lost = book(s, p[4], at(s, day, 14), provider=1, room=1)
    services.appointment_cancel(appointment_id=lost.pk, reason="moved away")
    return s


def test_stats_of_a_day_show_the_numbers_of_stats_for_day(client_as, busy_day):
    s, day = busy_day, busy_day["day"]
    response = client_as("front_desk").get(STATS, {"date": day.isoformat(), "period": "day"})
    assert response.status_code == 200
    body = response.content.decode()
    expected = jobs.stats_for_day(s["clinic"], day)

    for row in expected["providers"]:
        cells = row_cells(body, "table-providers", row["provider"])
        assert cells[1:] == [
            hours(row["booked_minutes"]),
            hours(row["available_minutes"]),
            percent(row["utilization"]),
            str(row["appointments"]),
            str(row["no_shows"]),
        ]
        cancelled = row_cells(body, "table-cancellations", row["provider"])
        assert cancelled[1:4] == [
            str(row["cancellations"]),
            str(row["backfilled"]),
            str(row["cancellations"] - row["backfilled"]),
        ]
    for row in expected["rooms"]:
        cells = row_cells(body, "table-rooms", row["room"])
        assert cells[1:] == [
            hours(row["booked_minutes"]),
            hours(row["available_minutes"]),
            percent(row["utilization"]),
        ]
    totals = expected["totals"]
    assert (totals["cancellations"], totals["backfilled"], totals["appointments"]) == (2, 1, 3)
    plain = text(body)
    assert f"{percent(totals['utilization'])} utilization" in plain
    assert f"{totals['cancellations']} cancellations {totals['backfilled']} refilled" in plain
    # The charts say the same numbers.
    assert f"{s['providers'][0].name} {percent(expected['providers'][0]['utilization'])}" in plain


def test_stats_of_a_week_add_up_each_day(client_as, busy_day):
    s, day = busy_day, busy_day["day"]
    wednesday = day + dt.timedelta(days=2)
    book(s, s["patients"][5], at(s, wednesday, 11))
    response = client_as("front_desk").get(STATS, {"date": wednesday.isoformat(), "period": "week"})
    body = response.content.decode()
    week = [jobs.stats_for_day(s["clinic"], day + dt.timedelta(days=i)) for i in range(7)]

    for code in ("dr-a", "dr-b"):
        rows = [next(r for r in d["providers"] if r["provider"] == code) for d in week]
        booked = sum(r["booked_minutes"] for r in rows)
        available = sum(r["available_minutes"] for r in rows)
        cells = row_cells(body, "table-providers", code)
        assert cells[1:5] == [
            hours(booked),
            hours(available),
            percent(jobs.utilization(booked, available)),
            str(sum(r["appointments"] for r in rows)),
        ]
    assert f"Week of {day:%a %-d %b} – {day + dt.timedelta(days=6):%a %-d %b %Y}" in text(body)
    assert 'id="table-days"' in body and text(body).count("Sun ") >= 1


def test_stats_charts_are_labelled_images(client_as, busy_day):
    body = client_as("front_desk").get(STATS, {"date": busy_day["day"].isoformat()}).content.decode()
    svgs = re.findall(r"<svg[^>]*>.*?</svg>", body, re.S)
    assert len(svgs) >= 3
    for svg in svgs:
        assert 'role="img"' in svg
        chart_id = re.search(r'aria-labelledby="([\w-]+)-title', svg).group(1)
        assert f'<title id="{chart_id}-title">' in svg and f'<desc id="{chart_id}-desc">' in svg


def test_stats_show_the_latest_stored_no_show_rates(client_as, small_clinic):
    s, day = small_clinic, small_clinic["day"]
    now = timezone.now()
    older, newer = day - dt.timedelta(days=3), day - dt.timedelta(days=1)
    dr_a, consult = s["providers"][0], s["consult"]
    rows = [
        (older, dr_a, None, 8, 4),
        (newer, dr_a, None, 8, 2),
        (older, None, consult, 10, 1),
        (day + dt.timedelta(days=30), dr_a, None, 1, 1),  # after the day shown: not yet known then
    ]
    for date, provider, kind, appointments, no_shows in rows:
        NoShowRate.objects.create(
            clinic=s["clinic"],
            date=date,
            provider=provider,
            appointment_type=kind,
            appointments=appointments,
            no_shows=no_shows,
            rate=no_shows / appointments,
            computed_at=now,
        )

    body = client_as("front_desk").get(STATS, {"date": day.isoformat()}).content.decode()

    assert row_cells(body, "table-noshow-providers", "dr-a")[1:] == ["8", "2", "25.0%", f"{newer:%-d %b %Y}"]
    assert row_cells(body, "table-noshow-types", "consult")[1:] == ["10", "1", "10.0%", f"{older:%-d %b %Y}"]
    assert 'id="chart-noshow-providers-title"' in body


def test_stats_without_no_show_rates_say_so(client_as, small_clinic):
    body = client_as("front_desk").get(STATS, {"date": small_clinic["day"].isoformat()}).content.decode()
    assert "No no-show rates are stored" in body


def test_stats_fragment_is_the_figures_alone_with_navigation(client_as, small_clinic):
    day = small_clinic["day"]
    response = client_as("front_desk").get(STATS, {"date": day.isoformat(), "period": "week"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="stats"')
    assert "<html" not in body
    assert f"date={(day - dt.timedelta(days=7)).isoformat()}&amp;period=week" in body
    assert f"date={(day + dt.timedelta(days=7)).isoformat()}&amp;period=week" in body
    assert f"date={day.isoformat()}&amp;period=day" in body
    assert f"Showing the week of {day:%a %-d %b}" in body  # in the status line, out of band


def test_stats_with_a_bad_date_or_period_show_today(client_as, small_clinic):
    response = client_as("front_desk").get(STATS, {"date": "not-a-date", "period": "year"})
    assert response.status_code == 200
    today = timezone.now().astimezone(small_clinic["clinic"].tz).date()
    assert f"{today:%A %-d %B %Y}" in text(response.content.decode())
