"""The board, find-and-book and the appointment panel, page and fragments, with permissions."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from clinic.models import Membership
from scheduling import selectors, services
from scheduling.models import Appointment, AppointmentStatus, WaitlistEntry
from scheduling.tests import conftest as scheduling_fixtures
from scheduling.tests.conftest import make_user

small_clinic = scheduling_fixtures.small_clinic  # the scheduling tests' clinic, shared

HX = {"HTTP_HX_REQUEST": "true"}


def hx(target: str) -> dict[str, str]:
    return {**HX, "HTTP_HX_TARGET": target}


@pytest.fixture
def desk_client(client, django_user_model, small_clinic):
    client.force_login(make_user(django_user_model, "desk1", "front_desk"))
    return client


@pytest.fixture
def clinician_client(client, django_user_model, small_clinic):
    """A clinician who is dr-a: they see and act on dr-a's appointments only."""
    doctor = make_user(django_user_model, "doc1", "clinician")
    Membership.objects.create(
        user=doctor, clinic=small_clinic["clinic"], provider=small_clinic["providers"][0]
    )
    client.force_login(doctor)
    return client


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo("Europe/Berlin"))


def booked(c, patient: int = 0, provider: int = 0, room: int = 0, hour: int = 9) -> Appointment:
    return services.appointment_book(
        clinic=c["clinic"],
        patient=c["patients"][patient],
        appointment_type=c["consult"],
        provider=c["providers"][provider],
        room=c["rooms"][room],
        start=at(c["day"], hour),
    )


# --- Who may see what ---------------------------------------------------------------------


def test_anonymous_user_is_sent_to_login(client, small_clinic):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_anonymous_fragment_request_redirects_the_whole_page(client, small_clinic):
    response = client.get("/book/", **HX)
    assert response.status_code == 401
    assert response["HX-Redirect"].startswith("/login/")


def test_login_page_logs_in_and_lands_on_the_board(client, django_user_model, small_clinic):
    user = make_user(django_user_model, "desk2", "front_desk")
    user.set_password("a-long-password-1")
    user.save()
    assert b"Log in" in client.get("/login/").content
    response = client.post("/login/", {"username": "desk2", "password": "a-long-password-1"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/")
    assert b"Riverside Family Practice" in page.content and b"Front desk" in page.content


def test_a_user_without_a_role_is_refused(client, django_user_model, small_clinic):
    client.force_login(make_user(django_user_model, "nobody", role=None))
    response = client.get("/")
    assert response.status_code == 403
    assert b"Your role may not see the schedule" in response.content


def test_clinician_cannot_book_or_cancel_but_can_check_in(clinician_client, small_clinic):
    appointment = booked(small_clinic)
    slot = f"dr-a|r1|{at(small_clinic['day'], 10).isoformat()}|0"
    refused = clinician_client.post(
        "/book/confirm/", {"patient": "p-2", "appointment_type": "consult", "slot": slot}, **HX
    )
    assert refused.status_code == 403
    assert refused["HX-Retarget"] == "#alert"
    assert b"may not book" in refused.content
    assert clinician_client.post(f"/appointments/{appointment.pk}/cancel/", **HX).status_code == 403
    assert clinician_client.get(f"/appointments/{appointment.pk}/reschedule/", **HX).status_code == 403
    panel = clinician_client.get(f"/appointments/{appointment.pk}/", **HX)
    assert b"Check in" in panel.content and b"Cancel appointment" not in panel.content
    assert clinician_client.post(f"/appointments/{appointment.pk}/check_in/", **HX).status_code == 200
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CHECKED_IN


def test_clinician_sees_and_acts_on_their_own_providers_appointments_only(clinician_client, small_clinic):
    mine = booked(small_clinic, patient=0, provider=0, hour=9)
    theirs = booked(small_clinic, patient=1, provider=1, room=1, hour=9)
    board = clinician_client.get(f"/?date={small_clinic['day']}", **hx("board")).content.decode()
    assert f'id="appt-providers-{mine.pk}"' in board and f'id="appt-providers-{theirs.pk}"' not in board
    assert "dr-b" not in board  # not even the other provider's column
    assert clinician_client.get(f"/appointments/{theirs.pk}/", **HX).status_code == 404
    assert clinician_client.post(f"/appointments/{theirs.pk}/check_in/", **HX).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == AppointmentStatus.BOOKED


# --- The board ----------------------------------------------------------------------------


def test_board_shows_the_days_appointments_by_provider(
    desk_client, small_clinic, django_assert_max_num_queries
):
    appointment = booked(small_clinic, hour=9)
    day = small_clinic["day"]
    with django_assert_max_num_queries(13):
        page = desk_client.get(f"/?date={day.isoformat()}")
    html = page.content.decode()
    assert page.status_code == 200 and "<html" in html
    assert f'id="appt-providers-{appointment.pk}"' in html
    assert appointment.patient.full_name in html
    assert "Break" in html  # 12:00-13:00 between the two windows
    fragment = desk_client.get(f"/?date={day.isoformat()}", **hx("board")).content.decode()
    assert "<html" not in fragment and fragment.lstrip().startswith("<section")
    rooms = desk_client.get(f"/?date={day.isoformat()}&view=rooms", **hx("board")).content.decode()
    assert f'id="appt-rooms-{appointment.pk}"' in rooms


def test_board_free_cells_open_find_and_book_at_that_time(desk_client, small_clinic):
    booked(small_clinic, hour=9)
    day = small_clinic["day"]
    html = desk_client.get(f"/?date={day.isoformat()}", **hx("board")).content.decode()
    assert "at=09:00&provider=dr-a" not in html  # held by the booking
    assert f"date_from={day}&date_to={day}&at=09:30&provider=dr-a" in html
    assert "at=09:00&provider=dr-b" in html


def test_board_of_a_closed_day_says_so(desk_client, small_clinic):
    from clinic.models import Closure

    Closure.objects.create(clinic=small_clinic["clinic"], date=small_clinic["day"], reason="Holiday")
    html = desk_client.get(f"/?date={small_clinic['day']}").content.decode()
    assert "The clinic is closed on this day." in html
    assert 'class="cell"' not in html


# --- Find and book ------------------------------------------------------------------------


def test_slots_fragment_lists_the_engines_ranking(desk_client, small_clinic):
    day = small_clinic["day"]
    response = desk_client.get(
        f"/book/?patient=p-1&appointment_type=consult&date_from={day}&date_to={day}", **hx("slots")
    )
    html = response.content.decode()
    expected = selectors.search_slots(
        clinic=small_clinic["clinic"],
        appointment_type_code="consult",
        date_from=day,
        date_to=day,
        now=timezone.now(),
        patient_code="p-1",
        limit=20,
    )
    values = [f'value="{s.provider}|{s.room}|{s.start.isoformat()}|0"' for s in expected.slots]
    positions = [html.index(v) for v in values]
    assert positions == sorted(positions) and len(positions) == 20
    assert f"{expected.total} free times for Consultation" in html


def test_find_panel_with_a_bad_range_says_why(desk_client, small_clinic):
    day = small_clinic["day"]
    response = desk_client.get(
        f"/book/?appointment_type=consult&date_from={day}&date_to={day - dt.timedelta(days=2)}", **hx("slots")
    )
    assert b"The end of the range is before its start." in response.content


def test_booking_a_slot_answers_with_the_appointment_panel(desk_client, small_clinic):
    start = at(small_clinic["day"], 10)
    response = desk_client.post(
        "/book/confirm/",
        {"patient": "p-3", "appointment_type": "consult", "slot": f"dr-b|r2|{start.isoformat()}|0"},
        **hx("slots"),
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#panel" and response["HX-Trigger"] == "board-changed"
    appointment = Appointment.objects.get(patient__code="p-3")
    assert appointment.start == start and appointment.provider.code == "dr-b"
    assert b'hx-swap-oob="innerHTML:#status"' in response.content
    assert b"Booked" in response.content


def test_a_taken_slot_is_refused_inline_with_a_fresh_list(desk_client, small_clinic):
    taken = booked(small_clinic, patient=0, provider=0, room=0, hour=10)
    day = small_clinic["day"]
    response = desk_client.post(
        "/book/confirm/",
        {
            "patient": "p-2",
            "appointment_type": "consult",
            "date_from": day.isoformat(),
            "date_to": day.isoformat(),
            "slot": f"dr-a|r2|{taken.start.isoformat()}|0",
        },
        **hx("slots"),
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Just taken" in html and "provider" in html
    assert f"dr-a|r1|{taken.start.isoformat()}" not in html  # the list is the current one
    assert not Appointment.objects.filter(patient__code="p-2").exists()


def test_booking_without_a_patient_asks_for_one(desk_client, small_clinic):
    start = at(small_clinic["day"], 10)
    response = desk_client.post(
        "/book/confirm/",
        {"appointment_type": "consult", "slot": f"dr-a|r1|{start.isoformat()}|0"},
        **hx("slots"),
    )
    assert response.status_code == 422
    assert b"Choose the patient first" in response.content


def test_patient_search_finds_by_name_code_and_phone(desk_client, small_clinic):
    patient = small_clinic["patients"][4]
    by_code = desk_client.get(f"/patients/search/?q={patient.code}", **HX).content.decode()
    assert patient.last_name in by_code
    assert "No patient matches" in desk_client.get("/patients/search/?q=zzzzqq", **HX).content.decode()
    assert desk_client.get("/patients/search/?q=a", **HX).content.strip() == b""


def test_new_patient_is_created_and_chosen(desk_client, small_clinic):
    response = desk_client.post(
        "/patients/new/",
        {
            "new-first_name": "Rosa",
            "new-last_name": "Lind",
            "new-phone": "+49 30 1234567",
            "appointment_type": "",
        },
        **HX,
    )
    assert response.status_code == 200 and response["HX-Retarget"] == "#patient-pick"
    assert b"Rosa Lind" in response.content and b'id="chosen-patient"' in response.content


def test_choosing_a_patient_replaces_only_the_picker_and_rescores_the_slots(desk_client, small_clinic):
    day = small_clinic["day"]
    response = desk_client.get(
        f"/book/?patient=p-2&appointment_type=consult&date_from={day}&date_to={day}", **hx("patient-pick")
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<fieldset id="patient-pick">')  # not the whole panel:
    assert 'id="find-form"' not in html  # a type chosen meanwhile is not overwritten
    assert '<div id="slots" hx-swap-oob="innerHTML">' in html and "button" in html


def test_new_patient_with_missing_name_keeps_what_was_typed(desk_client, small_clinic):
    response = desk_client.post("/patients/new/", {"new-first_name": "Rosa", "new-phone": "+49 30 1"}, **HX)
    assert response.status_code == 422
    html = response.content.decode()
    assert 'value="Rosa"' in html and "This field is required." in html


def test_waitlist_from_an_empty_search(desk_client, small_clinic):
    day = small_clinic["day"]
    response = desk_client.post(
        "/book/waitlist/",
        {
            "patient": "p-4",
            "appointment_type": "consult",
            "date_from": day,
            "date_to": day + dt.timedelta(days=3),
        },
        **HX,
    )
    assert response.status_code == 200
    assert WaitlistEntry.objects.filter(patient__code="p-4", earliest=day).exists()
    refused = desk_client.post("/book/waitlist/", {"appointment_type": "consult"}, **HX)
    assert refused.status_code == 422 and b"Choose" in refused.content


# --- The appointment panel ----------------------------------------------------------------


def test_panel_shows_details_history_and_role_actions(desk_client, small_clinic):
    appointment = booked(small_clinic)
    html = desk_client.get(f"/appointments/{appointment.pk}/", **hx("panel")).content.decode()
    for text in ("Consultation", "Confirm", "Check in", "Reschedule", "Cancel appointment", "Booked"):
        assert text in html
    assert "No-show" not in html  # not before its start
    page = desk_client.get(f"/appointments/{appointment.pk}/")
    assert b"<html" in page.content and b"Cancel appointment" in page.content


def test_unknown_appointment_is_a_clear_404(desk_client, small_clinic):
    response = desk_client.get("/appointments/999999/", **HX)
    assert response.status_code == 404 and b"No appointment with id 999999" in response.content


def test_an_impossible_move_is_refused_with_the_services_words(desk_client, small_clinic):
    appointment = booked(small_clinic)
    response = desk_client.post(f"/appointments/{appointment.pk}/complete/", **HX)
    assert response.status_code == 409
    assert b"Cannot complete an appointment that is booked" in response.content


def test_cancel_answers_with_backfill_candidates(desk_client, small_clinic):
    appointment = booked(small_clinic)
    day = small_clinic["day"]
    services.waitlist_add(
        clinic=small_clinic["clinic"],
        patient=small_clinic["patients"][5],
        appointment_type=small_clinic["consult"],
        earliest=day,
        latest=day,
    )
    response = desk_client.post(f"/appointments/{appointment.pk}/cancel/", {"reason": "ill"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "board-changed"
    assert small_clinic["patients"][5].full_name in html and "Book into this slot" in html
    assert f'"backfill_of": "{appointment.pk}"' in html
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED and appointment.cancel_reason == "ill"
    assert "<b>Cancelled</b> by desk1 (reason: ill)" in html  # the history, in words


def test_reschedule_lists_slots_and_moves(desk_client, small_clinic):
    appointment = booked(small_clinic)
    panel = desk_client.get(f"/appointments/{appointment.pk}/reschedule/", **hx("panel")).content.decode()
    assert "Move here" in panel
    target = at(small_clinic["day"], 14)
    response = desk_client.post(
        f"/appointments/{appointment.pk}/reschedule/",
        {"slot": f"dr-a|r1|{target.isoformat()}|0"},
        **hx("slots"),
    )
    assert response.status_code == 200 and response["HX-Retarget"] == "#panel"
    assert Appointment.objects.get(rescheduled_from=appointment).start == target


def test_cancel_with_nobody_to_refill_says_why(desk_client, small_clinic):
    appointment = booked(small_clinic)
    html = desk_client.post(
        f"/appointments/{appointment.pk}/cancel/", {"reason": "ill"}, **HX
    ).content.decode()
    assert "Book into this slot" not in html
    assert "No candidate can take this time" in html or "Nobody" in html


def test_dates_at_the_calendars_edge_get_a_clear_answer_not_a_500(desk_client, small_clinic):
    assert desk_client.get("/?date=9999-12-31").status_code == 200  # today's board instead
    found = desk_client.get(
        "/book/?appointment_type=consult&date_from=9999-12-30&date_to=9999-12-31", **hx("slots")
    )
    assert found.status_code == 200 and b"between the years 1900 and 2999" in found.content
    refused = desk_client.post(
        "/book/confirm/",
        {"patient": "p-1", "appointment_type": "consult", "slot": "dr-a|r1|9999-12-31T23:00:00+01:00|0"},
        **hx("slots"),
    )
    assert refused.status_code == 422 and b"Choose a time from the list" in refused.content
    appointment = booked(small_clinic)
    moved = desk_client.post(
        f"/appointments/{appointment.pk}/reschedule/", {"slot": "dr-a|r1|0001-01-01T00:00:00+00:00|0"}, **HX
    )
    assert moved.status_code == 422
    assert (
        desk_client.get(f"/appointments/{appointment.pk}/reschedule/?date_from=9999-12-31", **HX).status_code
        == 200
    )


def test_a_clinicians_patient_page_shows_their_own_providers_appointments_only(
    clinician_client, small_clinic
):
    mine = booked(small_clinic, patient=2, provider=0, hour=9)
    theirs = booked(small_clinic, patient=2, provider=1, room=1, hour=14)
    html = clinician_client.get(f"/patients/{mine.patient.code}/").content.decode()
    assert f"/appointments/{mine.pk}/" in html
    assert f"/appointments/{theirs.pk}/" not in html
